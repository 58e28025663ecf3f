"""HTTP routes of the feed domain: For You and Following."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from flick.feed.hydrate import hydrate
from flick.gateway.deps import container
from flick.gateway.routes import CurrentUser, Cursor, Limit, page_response, problems
from flick.ingest.schemas import VideoPage
from flick.platform.paging import parse_cursor

router = APIRouter(prefix="/api/v1", tags=["feeds"])
ERRORS = problems(400, 401, 422, 429)


@router.get("/feed/foryou", response_model=VideoPage, responses=ERRORS)
async def for_you(
    request: Request, me: CurrentUser, cursor: str | None = None, limit: Limit = 20
) -> Response:
    """Your For You feed: ranked for you, nothing you have seen, at most one video per
    creator in any five. Pass `next_cursor` back for the next page."""
    services = container(request)
    ids, next_cursor = await services.foryou.page(me, cursor=cursor, limit=limit)
    items = await hydrate(ids, viewer_id=me, videos=services.videos, social=services.social)
    return page_response(items, next_cursor)


@router.get("/feed/following", response_model=VideoPage, responses=ERRORS)
async def following(
    request: Request, me: CurrentUser, cursor: Cursor = None, limit: Limit = 20
) -> Response:
    """Videos of the accounts you follow, newest first."""
    services = container(request)
    ids, next_id = await services.following.page(me, cursor=parse_cursor(cursor), limit=limit)
    items = await hydrate(ids, viewer_id=me, videos=services.videos, social=services.social)
    return page_response(items, str(next_id) if next_id is not None else None)
