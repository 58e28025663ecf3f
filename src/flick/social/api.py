"""HTTP routes of the social domain: parse -> service -> response."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response
from starlette.types import Scope

from flick.gateway.deps import authenticate_scope, container, path_id
from flick.gateway.edge import FastRoute
from flick.gateway.routes import CurrentUser, Cursor, Limit, json_of, page_response, problems
from flick.platform.paging import Page, parse_cursor
from flick.social.schemas import CommentIn, CommentOut, CommentPage, ShareOut, UserPage

router = APIRouter(prefix="/api/v1", tags=["social"])
ERRORS = problems(400, 401, 403, 404, 409, 422, 429)


def _page(page: Page) -> Response:
    return page_response(page.items, page.next_cursor)


@router.post("/users/{user_id}/follow", status_code=204, responses=ERRORS)
async def follow(user_id: str, request: Request, me: CurrentUser) -> Response:
    """Follow a user; idempotent."""
    await container(request).social.follow(me, path_id(user_id, "user"))
    return Response(status_code=204)


@router.delete("/users/{user_id}/follow", status_code=204, responses=ERRORS)
async def unfollow(user_id: str, request: Request, me: CurrentUser) -> Response:
    """Stop following a user; idempotent."""
    await container(request).social.unfollow(me, path_id(user_id, "user"))
    return Response(status_code=204)


@router.post("/users/{user_id}/block", status_code=204, responses=ERRORS)
async def block(user_id: str, request: Request, me: CurrentUser) -> Response:
    """Block a user: follows between you end; they cannot follow you or comment on your
    videos."""
    await container(request).social.block(me, path_id(user_id, "user"))
    return Response(status_code=204)


@router.delete("/users/{user_id}/block", status_code=204, responses=ERRORS)
async def unblock(user_id: str, request: Request, me: CurrentUser) -> Response:
    """Lift a block; idempotent."""
    await container(request).social.unblock(me, path_id(user_id, "user"))
    return Response(status_code=204)


@router.get("/users/{user_id}/followers", response_model=UserPage, responses=ERRORS)
async def followers(
    user_id: str, request: Request, cursor: Cursor = None, limit: Limit = 20
) -> Response:
    """Who follows a user, newest first."""
    social = container(request).social
    uid = path_id(user_id, "user")
    return _page(await social.followers(uid, cursor=parse_cursor(cursor), limit=limit))


@router.get("/users/{user_id}/following", response_model=UserPage, responses=ERRORS)
async def following(
    user_id: str, request: Request, cursor: Cursor = None, limit: Limit = 20
) -> Response:
    """Whom a user follows, newest first."""
    social = container(request).social
    uid = path_id(user_id, "user")
    return _page(await social.following(uid, cursor=parse_cursor(cursor), limit=limit))


@router.post("/videos/{video_id}/like", status_code=204, responses=ERRORS)
async def like(video_id: str, request: Request, me: CurrentUser) -> Response:
    """Like a video; idempotent."""
    await container(request).social.like(me, path_id(video_id, "video"))
    return Response(status_code=204)


@router.delete("/videos/{video_id}/like", status_code=204, responses=ERRORS)
async def unlike(video_id: str, request: Request, me: CurrentUser) -> Response:
    """Take a like back; idempotent."""
    await container(request).social.unlike(me, path_id(video_id, "video"))
    return Response(status_code=204)


@router.get("/videos/{video_id}/comments", response_model=CommentPage, responses=ERRORS)
async def comments(
    video_id: str, request: Request, cursor: Cursor = None, limit: Limit = 20
) -> Response:
    """A video's comments, newest first."""
    social = container(request).social
    vid = path_id(video_id, "video")
    return _page(await social.comments(vid, cursor=parse_cursor(cursor), limit=limit))


@router.post(
    "/videos/{video_id}/comments", status_code=201, response_model=CommentOut, responses=ERRORS
)
async def post_comment(
    video_id: str, body: CommentIn, request: Request, me: CurrentUser
) -> Response:
    """Comment on a video (plain text)."""
    comment = await container(request).social.comment(
        me, path_id(video_id, "video"), text=body.text
    )
    return json_of(comment, 201)


@router.delete("/videos/{video_id}/comments/{comment_id}", status_code=204, responses=ERRORS)
async def delete_comment(
    video_id: str, comment_id: str, request: Request, me: CurrentUser
) -> Response:
    """Delete a comment: its author or the video's creator may."""
    social = container(request).social
    await social.delete_comment(me, path_id(video_id, "video"), path_id(comment_id, "comment"))
    return Response(status_code=204)


@router.post("/videos/{video_id}/share", status_code=201, response_model=ShareOut, responses=ERRORS)
async def share(video_id: str, request: Request, me: CurrentUser) -> Response:
    """Record a share; answers the link to pass on."""
    vid = path_id(video_id, "video")
    share_id = await container(request).social.share(me, vid)
    return json_of({"url": f"{str(request.base_url).rstrip('/')}/v/{vid}?share={share_id}"}, 201)


def fast_routes(services: Any) -> dict[tuple[str, str], FastRoute]:
    """Likes are the hottest write (a double-tap), so the edge serves them without FastAPI;
    the routes above stay for /docs and answer the same way."""

    async def like_route(scope: Scope) -> tuple[int, bytes]:
        user_id = await authenticate_scope(services, scope)
        await services.social.like(user_id, path_id(scope["path_params"]["id"], "video"))
        return 204, b""

    async def unlike_route(scope: Scope) -> tuple[int, bytes]:
        user_id = await authenticate_scope(services, scope)
        await services.social.unlike(user_id, path_id(scope["path_params"]["id"], "video"))
        return 204, b""

    path = "/api/v1/videos/{}/like"
    return {("POST", path): like_route, ("DELETE", path): unlike_route}
