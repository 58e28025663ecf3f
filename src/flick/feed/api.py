"""HTTP routes of the feed domain: For You and Following. Both are what a client asks for
most after likes, so the edge serves them too (`fast_routes`); the FastAPI routes document
them and answer the same."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response
from starlette.types import Scope

from flick.feed.hydrate import hydrate_encoded
from flick.gateway.deps import authenticate_scope, container
from flick.gateway.edge import FastRoute, query_params
from flick.gateway.routes import CurrentUser, Cursor, Limit, json_response, problems
from flick.ingest.schemas import VideoPage
from flick.platform.errors import InvalidInput
from flick.platform.paging import parse_cursor

FeedBody = Callable[..., Awaitable[bytes]]
MAX_CURSOR_CHARS = 24  # as the FastAPI routes' Cursor

router = APIRouter(prefix="/api/v1", tags=["feeds"])
ERRORS = problems(400, 401, 422, 429)


@router.get("/feed/foryou", response_model=VideoPage, responses=ERRORS)
async def for_you(
    request: Request, me: CurrentUser, cursor: Cursor = None, limit: Limit = 20
) -> Response:
    """Your For You feed: ranked for you, nothing you have seen, at most one video per
    creator in any five. Pass `next_cursor` back for the next page."""
    return json_response(await for_you_body(container(request), me, cursor=cursor, limit=limit))


@router.get("/feed/following", response_model=VideoPage, responses=ERRORS)
async def following(
    request: Request, me: CurrentUser, cursor: Cursor = None, limit: Limit = 20
) -> Response:
    """Videos of the accounts you follow, newest first."""
    return json_response(await following_body(container(request), me, cursor=cursor, limit=limit))


async def for_you_body(services: Any, viewer_id: int, *, cursor: str | None, limit: int) -> bytes:
    """A For You page as the API's list of `video` objects, encoded."""
    ids, next_cursor = await services.foryou.page(viewer_id, cursor=cursor, limit=limit)
    return await _page(services, viewer_id, ids, next_cursor)


async def following_body(services: Any, viewer_id: int, *, cursor: str | None, limit: int) -> bytes:
    """A Following page as the API's list of `video` objects, encoded."""
    ids, next_id = await services.following.page(
        viewer_id, cursor=parse_cursor(cursor), limit=limit
    )
    return await _page(services, viewer_id, ids, str(next_id) if next_id is not None else None)


async def _page(services: Any, viewer_id: int, ids: list[int], next_cursor: str | None) -> bytes:
    items = await hydrate_encoded(
        ids, viewer_id=viewer_id, videos=services.videos, social=services.social
    )
    return orjson.dumps({"items": list(map(orjson.Fragment, items)), "next_cursor": next_cursor})


def fast_routes(services: Any) -> dict[tuple[str, str], FastRoute]:
    """GET /api/v1/feed/foryou and /feed/following served by the edge."""

    def served(body: FeedBody) -> FastRoute:
        async def route(scope: Scope) -> tuple[int, bytes]:
            viewer_id = await authenticate_scope(services, scope)
            cursor, limit = _query(scope)
            return 200, await body(services, viewer_id, cursor=cursor, limit=limit)

        return route

    return {
        ("GET", "/api/v1/feed/foryou"): served(for_you_body),
        ("GET", "/api/v1/feed/following"): served(following_body),
    }


def _query(scope: Scope) -> tuple[str | None, int]:
    """`cursor` and `limit` from the query string, checked as the FastAPI routes check them."""
    query = query_params(scope)
    cursor = query.get("cursor")
    raw_limit = query.get("limit", "20")
    if cursor is not None and len(cursor) > MAX_CURSOR_CHARS:
        raise InvalidInput("the cursor is not one this feed gave out", field="cursor")
    if not raw_limit.isdigit():
        raise InvalidInput("limit is a whole number between 1 and 100", field="limit")
    return cursor, int(raw_limit)
