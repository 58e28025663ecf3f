"""HTTP routes of the accounts domain: parse -> service -> response.

Responses are pre-encoded orjson bytes: FastAPI's dict -> jsonable_encoder path costs several
times more per request than the work itself. GET /api/v1/me is also served from the edge's
hot-route table (`FAST_ROUTES`); the FastAPI route documents it and serves the same bytes.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from flick.accounts.schemas import LoginIn, ProfilePatch, SignedInOut, SignupIn, UserOut
from flick.gateway.deps import authenticate_scope, client_address, container
from flick.gateway.edge import FastRoute, Scope, bearer_token
from flick.gateway.routes import PROBLEM, CurrentUser, OptionalUser, json_response, problems

router = APIRouter(prefix="/api/v1", tags=["accounts"])
ERRORS = problems(400, 401, 413, 422, 429)


async def counted(services: Any, user_json: bytes) -> bytes:
    """The `user` object with its counts, which the social domain keeps."""
    return orjson.dumps(await _counted(services, user_json))


async def _counted(services: Any, user_json: bytes) -> dict[str, Any]:
    user = orjson.loads(user_json)
    user["counts"] = await services.social.user_counts(int(user["id"]))
    return user


def _signed_in(token: str, user_json: bytes) -> bytes:
    return b'{"token":' + orjson.dumps(token) + b',"user":' + user_json + b"}"


@router.post(
    "/auth/signup", status_code=201, response_model=SignedInOut, responses={**ERRORS, 409: PROBLEM}
)
async def signup(body: SignupIn, request: Request) -> Response:
    """Create an account; answers a session token and the new user."""
    services = container(request)
    await services.limiter.check_auth_attempt(client_address(request))
    signed_in = await services.accounts.signup(
        body.username, password=body.password, display_name=body.display_name
    )
    user_json = await services.accounts.user_json(signed_in.user.id)
    return json_response(_signed_in(signed_in.token, user_json), 201)


@router.post("/auth/login", response_model=SignedInOut, responses=ERRORS)
async def login(body: LoginIn, request: Request) -> Response:
    """Sign in; a wrong username and a wrong password get the same answer."""
    services = container(request)
    await services.limiter.check_auth_attempt(client_address(request))
    signed_in = await services.accounts.login(body.username, password=body.password)
    user_json = await services.accounts.user_json(signed_in.user.id)
    return json_response(_signed_in(signed_in.token, user_json))


@router.post("/auth/logout", status_code=204, responses=ERRORS)
async def logout(request: Request, _user_id: CurrentUser) -> Response:
    """Revoke this token everywhere, at once."""
    services = container(request)
    token = bearer_token(request.scope) or ""
    await services.accounts.logout(token)
    return Response(status_code=204)


@router.get("/me", response_model=UserOut, responses=ERRORS)
async def get_me(request: Request, user_id: CurrentUser) -> Response:
    """The signed-in user."""
    services = container(request)
    return json_response(await counted(services, await services.accounts.user_json(user_id)))


@router.patch("/me", response_model=UserOut, responses=ERRORS)
async def patch_me(body: ProfilePatch, request: Request, user_id: CurrentUser) -> Response:
    """Change the display name and/or bio."""
    accounts = container(request).accounts
    return json_response(
        await accounts.update_profile(user_id, display_name=body.display_name, bio=body.bio)
    )


@router.get("/users/{username}", response_model=UserOut, responses={**ERRORS, 404: PROBLEM})
async def get_user(username: str, request: Request, viewer_id: OptionalUser) -> Response:
    """A user's public profile by username; signed in, with `viewer.following` (whether you
    follow them)."""
    services = container(request)
    found = await services.accounts.user_json_by_username(username)
    user = await _counted(services, found)
    if viewer_id is not None:
        following = await services.social.following_among(viewer_id, [int(user["id"])])
        user["viewer"] = {"following": bool(following)}
    return json_response(orjson.dumps(user))


def fast_routes(services: Any) -> dict[tuple[str, str], FastRoute]:
    """Hot routes served by the edge directly (see the module docstring)."""

    async def me(scope: Scope) -> tuple[int, bytes]:
        user_id = await authenticate_scope(services, scope)
        return 200, await counted(services, await services.accounts.user_json(user_id))

    return {("GET", "/api/v1/me"): me}
