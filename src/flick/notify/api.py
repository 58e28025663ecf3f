"""HTTP routes of the notify domain: the list, the unread count, and the live WebSocket."""

from __future__ import annotations

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from starlette.responses import Response

from flick.gateway.deps import container
from flick.gateway.routes import CurrentUser, Cursor, Limit, json_of, page_response, problems
from flick.platform.errors import DomainError
from flick.platform.paging import parse_cursor

router = APIRouter(prefix="/api/v1", tags=["notifications"])
WS_UNAUTHENTICATED = 4401  # WebSocket close codes 4000-4999 are the application's: 4xx + 4000
ERRORS = problems(401, 422, 429)


@router.websocket("/notifications/ws")
async def live_notifications(websocket: WebSocket, token: str = "") -> None:
    """One JSON message per new notification, to every connection of the signed-in user
    (`?token=`: browsers cannot set headers on a WebSocket)."""
    services = websocket.app.state.container
    try:
        user_id = await services.accounts.authenticate(token)
    except DomainError:
        await websocket.close(code=WS_UNAUTHENTICATED, reason="sign in: ?token=<bearer token>")
        return
    await websocket.accept()
    services.live.add(user_id, websocket)
    try:
        while True:
            await websocket.receive_text()  # nothing is expected; this notices a close
    except WebSocketDisconnect:
        pass
    finally:
        services.live.remove(user_id, websocket)


@router.get("/notifications", responses=ERRORS)
async def list_notifications(
    request: Request,
    me: CurrentUser,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Response:
    """Your notifications, newest first; likes of one video grouped while unread."""
    page = await container(request).notifications.list(me, cursor=parse_cursor(cursor), limit=limit)
    return page_response(page.items, page.next_cursor)


@router.get("/notifications/unread", responses=ERRORS)
async def unread(request: Request, me: CurrentUser) -> Response:
    """How many notifications you have not read: `{count}`."""
    count = await container(request).notifications.unread(me)
    return json_of({"count": count})


@router.post("/notifications/read", status_code=204, responses=ERRORS)
async def mark_read(request: Request, me: CurrentUser) -> Response:
    """Mark every notification read."""
    await container(request).notifications.mark_read(me)
    return Response(status_code=204)
