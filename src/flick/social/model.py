"""Follows, blocks, likes, comments and shares: entities and rules, no I/O.

Comments are stored and returned as plain text; clients render them as text, never as HTML.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from flick.platform.errors import Conflict, Forbidden, InvalidInput

COMMENT_MAX = 1000  # characters; longer is an essay, not a comment


class Blocked(Forbidden):
    """One of the two users blocks the other."""

    slug = "blocked"
    title = "Blocked"


class SelfAction(Conflict):
    """Following or blocking oneself."""

    slug = "self-action"
    title = "Not with yourself"


@dataclass(frozen=True, slots=True)
class Comment:
    id: int
    video_id: int
    author_id: int
    text: str
    created_at: float


def clean_comment(text: str) -> str:
    """Strip, NFC-normalise and bound a comment; newlines allowed, other controls not."""
    cleaned = unicodedata.normalize("NFC", text.strip())
    if not cleaned:
        raise InvalidInput("a comment needs some text", field="text")
    if len(cleaned) > COMMENT_MAX:
        raise InvalidInput(
            f"a comment has at most {COMMENT_MAX} characters, not {len(cleaned)}", field="text"
        )
    if any(unicodedata.category(ch) == "Cc" and ch != "\n" for ch in cleaned):
        raise InvalidInput("a comment may not hold control characters", field="text")
    return cleaned
