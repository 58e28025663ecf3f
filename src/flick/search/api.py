"""HTTP routes of the search domain: parse -> service -> response."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from flick.gateway.deps import container
from flick.gateway.routes import Cursor, Limit, OptionalUser, page_response, problems
from flick.search.model import QUERY_MAX_CHARS, Kind
from flick.search.schemas import SearchPage

router = APIRouter(prefix="/api/v1", tags=["search"])
ERRORS = problems(400, 401, 422, 429, 503)
Text = Annotated[
    str, Query(description=f"words, a @handle or a #hashtag; at most {QUERY_MAX_CHARS} characters")
]


@router.get("/search", response_model=SearchPage, responses=ERRORS)
async def search(
    request: Request,
    viewer: OptionalUser,
    q: Text = "",
    type: Kind = Kind.VIDEOS,  # the API names it so
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Response:
    """Search videos (caption, hashtags, creator), users (handle and display name, by prefix
    and despite a typo) or hashtags (by prefix, with their video counts). Ranked by text
    relevance with popularity and freshness; without what you block or who blocks you.
    Anyone may search; signed in, `viewer` fields are yours."""
    found = await container(request).search.search(
        q, kind=type, viewer_id=viewer, cursor=cursor, limit=limit
    )
    return page_response(found.items, found.next_cursor)
