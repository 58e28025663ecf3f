"""What every domain's routes share: who is calling, how errors show in /docs, and JSON
answers (pre-encoded orjson: FastAPI's dict -> jsonable_encoder path costs several times more
per request than the work itself)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Query
from starlette.responses import Response

from flick.gateway.deps import current_user_id, optional_user_id
from flick.gateway.problems import PROBLEM_TYPE

CurrentUser = Annotated[int, Depends(current_user_id)]
OptionalUser = Annotated[int | None, Depends(optional_user_id)]
Cursor = Annotated[str | None, Query(max_length=24, description="next_cursor of the last page")]
Limit = Annotated[int, Query(description="items per page, 1-100")]
PROBLEM = {"content": {PROBLEM_TYPE: {}}, "description": "problem+json"}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` saying these statuses answer problem+json."""
    return {code: PROBLEM for code in codes}


def json_response(body: bytes, status_code: int = 200) -> Response:
    """Already-encoded JSON."""
    return Response(body, status_code=status_code, media_type="application/json")


def json_of(value: Any, status_code: int = 200) -> Response:
    """A value encoded with orjson."""
    return json_response(orjson.dumps(value), status_code)


def page_response(items: list[dict[str, Any]], next_cursor: str | None) -> Response:
    """A list in the API's shape: `{"items": [...], "next_cursor": "..." | null}`."""
    return json_of({"items": items, "next_cursor": next_cursor})
