"""Cursor pagination shared by every list: pages of at most PAGE_MAX items, newest first,
the cursor being the last item's time-ordered key (a snowflake) as a decimal string."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flick.platform.errors import InvalidInput

PAGE_MAX = 100  # items per list page


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list and the cursor of the next (None at the end)."""

    items: list[dict[str, Any]]
    next_cursor: str | None


def page_limit(limit: int) -> int:
    if not 1 <= limit <= PAGE_MAX:
        raise InvalidInput(f"limit is between 1 and {PAGE_MAX}", field="limit")
    return limit


def parse_cursor(cursor: str | None) -> int | None:
    """The key a cursor stands for; None for the first page."""
    if cursor is None or cursor == "":
        return None
    if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 20:
        raise InvalidInput("cursor is not one this server gave out", field="cursor")
    return int(cursor)


def next_cursor(keys: Sequence[int], limit: int) -> str | None:
    """The cursor after a page whose items have these keys: none once a page is short."""
    return str(keys[-1]) if len(keys) == limit else None
