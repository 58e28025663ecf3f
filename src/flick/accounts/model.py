"""Account entities and rules. No I/O."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from flick.platform.errors import Conflict, InvalidInput, Unauthenticated

USERNAME_MIN, USERNAME_MAX = 3, 30
USERNAME_PATTERN = re.compile(r"^[a-z0-9_](?:[a-z0-9_.]*[a-z0-9_])?$")
DISPLAY_NAME_MAX = 50
BIO_MAX = 300  # a profile blurb, as on TikTok (80) and Mastodon (500)
PASSWORD_MIN = 8
PASSWORD_MAX = 256  # argon2 takes any length; the cap stops megabyte "passwords" as a DoS
# Names a person could mistake for the platform speaking.
RESERVED_USERNAMES = frozenset({"admin", "root", "flick", "support", "api", "me", "system"})


@dataclass(frozen=True, slots=True)
class User:
    """A person with an account."""

    id: int
    username: str
    display_name: str
    bio: str
    password_hash: str
    created_at: float


@dataclass(frozen=True, slots=True)
class Session:
    """A login: the token's secret is kept only as its SHA-256."""

    id: int
    user_id: int
    secret_hash: bytes
    expires_at: float
    revoked_at: float | None


class UsernameTaken(Conflict):
    slug = "username-taken"
    title = "Username taken"


class InvalidCredentials(Unauthenticated):
    slug = "invalid-credentials"
    title = "Wrong username or password"


class InvalidToken(Unauthenticated):
    slug = "invalid-token"
    title = "Invalid or expired session token"


def normalize_username(raw: str) -> str:
    """Lower-case and check a username; raises InvalidInput naming the broken rule."""
    name = raw.strip().lower()
    if not USERNAME_MIN <= len(name) <= USERNAME_MAX:
        raise InvalidInput(
            f"a username has {USERNAME_MIN} to {USERNAME_MAX} characters; "
            f"{raw.strip()[:40]!r} has {len(name)}",
            field="username",
        )
    if not USERNAME_PATTERN.match(name) or ".." in name:
        raise InvalidInput(
            "a username uses only letters a-z, digits, '_' and '.', and does not start or end "
            "with '.' or hold '..'",
            field="username",
        )
    if name in RESERVED_USERNAMES:
        raise InvalidInput(f"the username {name!r} is reserved", field="username")
    return name


def check_password(password: str) -> None:
    """Raise InvalidInput unless the password has a sensible length."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise InvalidInput(
            f"a password has {PASSWORD_MIN} to {PASSWORD_MAX} characters", field="password"
        )


def clean_text(value: str, *, field: str, limit: int, multiline: bool = False) -> str:
    """Strip, normalise (NFC) and bound a free-text profile field; no control characters."""
    text = unicodedata.normalize("NFC", value.strip())
    if len(text) > limit:
        raise InvalidInput(f"{field} has at most {limit} characters, not {len(text)}", field=field)
    allowed = "\n" if multiline else ""
    if any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in text):
        raise InvalidInput(f"{field} may not hold control characters", field=field)
    return text


def public_view(user: User) -> dict[str, Any]:
    """The API's `user` object. Counts belong to the social domain and start at zero."""
    return {
        "id": str(user.id),
        "username": user.username,
        "display_name": user.display_name,
        "bio": user.bio,
        "created_at": user.created_at,
        "counts": {"followers": 0, "following": 0, "videos": 0, "likes": 0},
    }
