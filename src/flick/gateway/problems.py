"""RFC 9457 problem+json: every error a client sees has a type, a title, a status and a
`detail` a person can act on, plus the request id to quote in a bug report."""

from __future__ import annotations

import logging
import math
from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from flick.platform.errors import DomainError

PROBLEM_TYPE = "application/problem+json"
log = logging.getLogger(__name__)


class RateLimited(DomainError):
    """Too many requests; `retry_after` seconds tells when to come back."""

    status = 429
    slug = "rate-limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: float) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Problem(DomainError):
    """An error whose kind is decided at the edge rather than in a domain."""

    def __init__(self, detail: str, *, status: int, slug: str, title: str, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.status, self.slug, self.title = status, slug, title


class BodyTooLarge(DomainError):
    status = 413
    slug = "body-too-large"
    title = "Request body too large"


class MalformedJson(DomainError):
    status = 400
    slug = "malformed-json"
    title = "Malformed JSON"


def problem_body(
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    instance: str = "",
    request_id: str = "",
    extra: dict[str, Any] | None = None,
) -> bytes:
    """The encoded problem document."""
    document: dict[str, Any] = {
        "type": f"/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        document["instance"] = instance
    if request_id:
        document["request_id"] = request_id
    document.update(extra or {})
    return orjson.dumps(document)


def problem_headers(error: DomainError) -> dict[str, str]:
    """Headers that belong with an error, e.g. Retry-After on 429."""
    if isinstance(error, RateLimited):
        return {"retry-after": str(max(1, math.ceil(error.retry_after)))}
    if error.status == 401:
        return {"www-authenticate": 'Bearer realm="flick"'}
    return {}


def domain_error_body(error: DomainError, *, instance: str, request_id: str) -> bytes:
    """The problem document of a DomainError."""
    return problem_body(
        status=error.status,
        slug=error.slug,
        title=error.title,
        detail=error.detail,
        instance=instance,
        request_id=request_id,
        extra=error.extra,
    )


def _request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def _response(request: Request, error: DomainError) -> Response:
    body = domain_error_body(error, instance=request.url.path, request_id=_request_id(request))
    return Response(
        body, status_code=error.status, media_type=PROBLEM_TYPE, headers=problem_headers(error)
    )


async def on_domain_error(request: Request, exc: Exception) -> Response:
    """FastAPI handler for DomainError."""
    assert isinstance(exc, DomainError)
    return _response(request, exc)


async def on_validation_error(request: Request, exc: Exception) -> Response:
    """Malformed JSON -> 400; wrong types or missing fields -> 422 naming each field."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    broken = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if broken is not None:
        reason = (broken.get("ctx") or {}).get("error", "invalid JSON")
        position = broken["loc"][-1] if broken.get("loc") else "?"
        return _response(
            request, MalformedJson(f"the body is not valid JSON: {reason} at character {position}")
        )
    fields = [
        {"field": ".".join(str(part) for part in e["loc"] if part != "body"), "message": e["msg"]}
        for e in errors
    ]
    detail = "; ".join(f"{f['field'] or 'body'}: {f['message']}" for f in fields)
    invalid = Problem(
        detail, status=422, slug="invalid-request", title="Invalid request", errors=fields
    )
    return _response(request, invalid)


async def on_http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (unknown route, wrong method) as problems."""
    assert isinstance(exc, StarletteHTTPException)
    title = _TITLES.get(exc.status_code, "Error")
    detail = str(exc.detail)
    if exc.status_code == 404:
        detail = f"nothing is at {request.method} {request.url.path}; see /docs"
    slug = title.lower().replace(" ", "-")
    error = Problem(detail, status=exc.status_code, slug=slug, title=title)
    response = _response(request, error)
    response.headers.update(exc.headers or {})
    return response


async def on_unexpected_error(request: Request, exc: Exception) -> Response:
    """A bug: say so plainly and give the id to find it in the logs."""
    log.error("unhandled error in request %s", _request_id(request), exc_info=exc)
    error = Problem(
        "the server failed unexpectedly; the error is logged under this request id",
        status=500,
        slug="internal-error",
        title="Internal server error",
    )
    return _response(request, error)


_TITLES = {404: "Not found", 405: "Method not allowed", 400: "Bad request", 401: "Unauthorized"}
