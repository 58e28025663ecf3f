"""FastAPI dependencies shared by every domain's routes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import Scope

from flick.accounts.model import InvalidToken
from flick.gateway.edge import Edge, bearer_token
from flick.platform.errors import NotFound

if TYPE_CHECKING:
    from flick.bootstrap import Container

# Declares the scheme in OpenAPI (the Authorize button in /docs); checking is ours.
bearer_scheme = HTTPBearer(auto_error=False, description="token from signup or login")


def container(request: Request) -> Container:
    """The process's wired services."""
    services: Container = request.app.state.container
    return services


def client_address(request: Request) -> str:
    """The caller's address as the edge resolved it (X-Forwarded-For only when trusted)."""
    edge: Edge = request.app.state.edge
    return edge.client_address(request.scope)


async def authenticate_scope(services: Container, scope: Scope) -> int:
    """The signed-in user's id for a raw ASGI scope; applies the per-user rate limit."""
    token = bearer_token(scope)
    if token is None:
        raise InvalidToken("sign in first: send `Authorization: Bearer <token>`")
    user_id = await services.accounts.authenticate(token)
    await services.limiter.check_user(user_id)
    return user_id


async def current_user_id(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> int:
    """Dependency: the signed-in user's id, or 401 problem."""
    return await authenticate_scope(container(request), request.scope)


async def optional_user_id(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> int | None:
    """Dependency: the signed-in user's id when a token is sent (a bad one is still 401),
    else None, for routes anyone may read."""
    if bearer_token(request.scope) is None:
        return None
    return await authenticate_scope(container(request), request.scope)


def path_id(raw: str, what: str) -> int:
    """A 64-bit id from a URL path segment; anything else is a 404 naming what was sought."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 20:
        raise NotFound(f"there is no {what} {raw[:40]!r}")
    return int(raw)
