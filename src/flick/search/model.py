"""Search rules, no I/O: what a query may hold, how text is cut into terms, how hits rank.

User text never reaches a query parser: queries are built term by term (index.py) from the
terms `TOKEN_PATTERN` finds, so query-syntax characters are just separators.
"""

from __future__ import annotations

import math
import re
import unicodedata
from enum import StrEnum

from flick.platform.errors import DomainError

QUERY_MAX_CHARS = 200  # longer is no search a person types; refused, so nobody pays for it
QUERY_MAX_TERMS = 12  # terms beyond these are dropped: each term is a clause on every field
PREFIX_MIN_CHARS = 2  # a shorter prefix would be nearly every handle or name
VIDEO_PREFIX_MIN_CHARS = 3  # a caption's last term is expanded from 3 characters (cheaper)
CANDIDATES = 200  # hits ranked per query; pages are cut from them (the cursor is an offset)
USER_CANDIDATES = 50
# Scripts written without spaces between words: each character is a term, and a query's
# characters are also matched as a phrase, so 東京 finds 東京タワー but ranks it by adjacency.
UNSPACED = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
# Terms, for tantivy's regex tokenizer (Rust syntax): one unspaced character with its marks,
# one emoji or flag half, or a run of letters, marks, digits and '_' of any other script.
TOKEN_PATTERN = (
    rf"[{UNSPACED}]\p{{M}}*"
    r"|[\p{Extended_Pictographic}\p{Regional_Indicator}]"
    rf"|[[\p{{L}}\p{{M}}\p{{N}}_]--[{UNSPACED}]]+"
)
TERM_MAX_CHARS = 40  # longer runs are no word anyone searches for (tantivy's remove_long)
HANDLE_CHARS = re.compile(r"[^a-z0-9_.]")
# Ranking (docs/search.md): text relevance x popularity x freshness.
POPULARITY_WEIGHT = 0.15  # log-engagement multiplier: 1,000 likes ~ x2 a video with none
FRESHNESS_HALF_LIFE_S = 7 * 86400.0  # a week: short videos are topical
FRESHNESS_FLOOR = 0.5  # an old video keeps half its weight: relevance still wins
FOLLOWERS_WEIGHT = 0.1  # users: 10,000 followers ~ x1.9


class Kind(StrEnum):
    VIDEOS = "videos"
    USERS = "users"
    HASHTAGS = "hashtags"


class BadQuery(DomainError):
    """400: the search text cannot be searched for as sent."""

    slug = "bad-search-query"
    title = "Bad search query"


class SearchUnavailable(DomainError):
    """503: this process holds no search index."""

    status = 503
    slug = "search-unavailable"
    title = "Search unavailable"


def clean_query(raw: str) -> str:
    """NFKC, control and other invisible characters out, whitespace collapsed; BadQuery if
    too long or left empty."""
    if len(raw) > QUERY_MAX_CHARS:
        raise BadQuery(f"q has at most {QUERY_MAX_CHARS} characters, not {len(raw)}", field="q")
    text = unicodedata.normalize("NFKC", raw)
    text = "".join(c if _visible(c) else " " for c in text)
    text = " ".join(text.split())
    if not text:
        raise BadQuery("q is empty: send some words, a @handle or a #hashtag", field="q")
    return text


def _visible(char: str) -> bool:
    # The zero-width joiner stays: it holds emoji sequences (family, profession) together.
    return not unicodedata.category(char).startswith("C") or char == "\u200d"


def hashtag_prefix(text: str) -> str:
    """The hashtag a cleaned query names (without '#'), normalised as ingest stores tags;
    empty when it names none."""
    match = re.search(r"\w+", unicodedata.normalize("NFKC", text).casefold())
    return match.group(0) if match else ""


def handle_of(text: str) -> str:
    """The username a cleaned query may be (lower-case, '@' and foreign characters out)."""
    return HANDLE_CHARS.sub("", text.casefold())


def engagement(counts: dict[str, int]) -> float:
    """One popularity figure from a video's counts: a share or comment says more than a like,
    a view much less."""
    return (
        counts.get("likes", 0)
        + 2 * counts.get("comments", 0)
        + 3 * counts.get("shares", 0)
        + 0.1 * counts.get("views", 0)
    )


def video_score(text: float, *, engagement: float, age_s: float) -> float:
    """A video hit's rank: text relevance x popularity x freshness."""
    popularity = 1.0 + POPULARITY_WEIGHT * math.log1p(max(engagement, 0.0))
    decay = 0.5 ** (max(age_s, 0.0) / FRESHNESS_HALF_LIFE_S)
    return text * popularity * (FRESHNESS_FLOOR + (1.0 - FRESHNESS_FLOOR) * decay)


def user_score(text: float, *, followers: int) -> float:
    """A user hit's rank: text relevance x popularity."""
    return text * (1.0 + FOLLOWERS_WEIGHT * math.log1p(max(followers, 0)))
