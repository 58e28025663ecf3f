"""HTTP routes of the recs domain: watch events."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from flick.gateway.deps import container
from flick.gateway.routes import CurrentUser, json_of, problems
from flick.recs.schemas import WatchBatchIn, WatchBatchOut
from flick.recs.service import WatchReport

router = APIRouter(prefix="/api/v1", tags=["recommendations"])
ERRORS = problems(401, 413, 422, 429)


@router.post("/events/watch", status_code=202, response_model=WatchBatchOut, responses=ERRORS)
async def watch_events(body: WatchBatchIn, request: Request, me: CurrentUser) -> Response:
    """Report what the signed-in user watched (batched: up to 100 a request). Durations are
    clamped to what each video allows; watches of unknown videos are dropped and counted."""
    reports = [
        WatchReport(
            int(event.video_id),
            event.watched_ms,
            event.completed,
            event.replays,
            event.quick_skip,
            event.ts,
        )
        for event in body.events
    ]
    result = await container(request).watches.record(me, reports)
    return json_of({"accepted": result.accepted, "dropped": result.dropped}, 202)
