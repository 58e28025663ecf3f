"""Errors a domain raises on purpose. The gateway turns each into RFC 9457 problem+json with
its status, a stable `type` slug and the `detail` a person can act on."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every deliberate error. Subclasses set `status`, `slug` and `title`."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidInput(DomainError):
    """The request was well-formed but a value breaks a rule."""

    status = 422
    slug = "invalid-input"
    title = "Invalid input"


class NotFound(DomainError):
    """The thing asked for does not exist (or the caller may not know it does)."""

    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(DomainError):
    """The request clashes with the current state, e.g. a taken username."""

    status = 409
    slug = "conflict"
    title = "Conflict"


class Unauthenticated(DomainError):
    """No valid credentials: missing, wrong, forged, expired or revoked."""

    status = 401
    slug = "unauthenticated"
    title = "Authentication required"


class Forbidden(DomainError):
    """Authenticated, but not allowed to do this."""

    status = 403
    slug = "forbidden"
    title = "Forbidden"
