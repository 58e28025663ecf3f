"""HTTP routes of the ingest domain: the tus 1.0.0 upload endpoint and the videos resource.

tus: `OPTIONS /api/v1/uploads` advertises the protocol; `POST` creates an upload (its body,
when sent, is the first chunk: creation-with-upload); `HEAD /api/v1/uploads/{id}` tells the
offset to resume from; `PATCH` appends; `DELETE` terminates. Clients that cannot send PATCH
or DELETE may POST with `X-HTTP-Method-Override` (tus-js-client's option).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from flick.gateway.deps import container, path_id
from flick.gateway.routes import (
    PROBLEM,
    CurrentUser,
    Cursor,
    Limit,
    OptionalUser,
    json_of,
    page_response,
    problems,
)
from flick.ingest import tus
from flick.ingest.schemas import PublishIn, VideoOut, VideoPage
from flick.ingest.uploads import ClientGone
from flick.platform.errors import NotFound
from flick.platform.paging import parse_cursor

router = APIRouter(prefix="/api/v1", tags=["videos"])
ERRORS = problems(400, 401, 404, 409, 410, 413, 415, 422, 429)
UPLOAD_ERRORS = problems(400, 401, 404, 409, 410, 412, 413, 415, 422, 429, 460)


async def _body(request: Request) -> AsyncIterator[bytes]:
    """The request body as it arrives; a dropped connection becomes ClientGone."""
    try:
        async for data in request.stream():
            if data:
                yield data
    except ClientDisconnect:
        raise ClientGone from None


# --- tus -------------------------------------------------------------------------------------


@router.options("/uploads", status_code=204, tags=["uploads"])
@router.options("/uploads/{upload_id}", status_code=204, tags=["uploads"], include_in_schema=False)
async def tus_options(request: Request) -> Response:
    """tus discovery: version, extensions, maximum size, checksum algorithms."""
    settings = container(request).settings
    return Response(
        status_code=204, headers=tus.capability_headers(max_size=settings.upload_max_bytes)
    )


@router.post("/uploads", status_code=201, tags=["uploads"], responses=UPLOAD_ERRORS)
async def tus_create(request: Request, user_id: CurrentUser) -> Response:
    """tus creation (and creation-with-upload): `Upload-Length` bytes, `Upload-Metadata`
    may carry `filename` and `caption`. Answers 201 with the upload's `Location`."""
    headers = request.headers
    tus.check_version(headers)
    uploads = container(request).uploads
    upload = await uploads.create(
        user_id,
        length=tus.non_negative_int(headers, "Upload-Length"),
        metadata=tus.parse_metadata(headers.get("upload-metadata")),
    )
    if headers.get("content-type") and _has_body(request):
        tus.check_chunk_type(headers)
        upload = await uploads.append(
            upload.id,
            user_id=user_id,
            offset=0,
            body=_body(request),
            checksum=tus.parse_checksum(headers.get("upload-checksum")),
        )
    location = f"/api/v1/uploads/{upload.id}"
    answer = tus.offset_headers(upload.received, expires_at=upload.expires_at, Location=location)
    return Response(status_code=201, headers=answer)


@router.head("/uploads/{upload_id}", tags=["uploads"], responses=UPLOAD_ERRORS)
async def tus_status(upload_id: str, request: Request, user_id: CurrentUser) -> Response:
    """tus HEAD: the offset to resume from."""
    tus.check_version(request.headers)
    upload = await container(request).uploads.get(path_id(upload_id, "upload"), user_id=user_id)
    answer = tus.offset_headers(
        upload.received,
        expires_at=upload.expires_at,
        **{"Upload-Length": upload.length},
    )
    if upload.metadata:
        answer["Upload-Metadata"] = tus.encode_metadata(upload.metadata)
    return Response(status_code=200, headers=answer)


@router.patch("/uploads/{upload_id}", status_code=204, tags=["uploads"], responses=UPLOAD_ERRORS)
async def tus_append(upload_id: str, request: Request, user_id: CurrentUser) -> Response:
    """tus PATCH: bytes at `Upload-Offset`, optionally with `Upload-Checksum` (sha1, sha256);
    a mismatch answers 460 and stores nothing."""
    headers = request.headers
    tus.check_version(headers)
    tus.check_chunk_type(headers)
    upload = await container(request).uploads.append(
        path_id(upload_id, "upload"),
        user_id=user_id,
        offset=tus.non_negative_int(headers, "Upload-Offset"),
        body=_body(request),
        checksum=tus.parse_checksum(headers.get("upload-checksum")),
    )
    return Response(
        status_code=204, headers=tus.offset_headers(upload.received, expires_at=upload.expires_at)
    )


@router.delete("/uploads/{upload_id}", status_code=204, tags=["uploads"], responses=UPLOAD_ERRORS)
async def tus_terminate(upload_id: str, request: Request, user_id: CurrentUser) -> Response:
    """tus termination: the upload and its bytes are deleted."""
    tus.check_version(request.headers)
    await container(request).uploads.terminate(path_id(upload_id, "upload"), user_id=user_id)
    return Response(status_code=204, headers={"Tus-Resumable": tus.VERSION})


@router.post("/uploads/{upload_id}", include_in_schema=False)
async def tus_method_override(upload_id: str, request: Request, user_id: CurrentUser) -> Response:
    """`X-HTTP-Method-Override: PATCH | DELETE` for clients behind proxies that drop them."""
    method = request.headers.get("x-http-method-override", "").upper()
    if method == "PATCH":
        return await tus_append(upload_id, request, user_id)
    if method == "DELETE":
        return await tus_terminate(upload_id, request, user_id)
    raise NotFound("POST to an upload needs `X-HTTP-Method-Override: PATCH` or `DELETE`")


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return (
        length != "0"
        if length is not None
        else "chunked" in request.headers.get("transfer-encoding", "")
    )


# --- videos ----------------------------------------------------------------------------------


async def _video_response(
    request: Request, video: dict[str, Any], *, viewer_id: int | None, status_code: int = 200
) -> Response:
    """The `video` object with its counts and the viewer's state, which social keeps."""
    social = container(request).social
    video["counts"] = await social.video_counts(int(video["id"]))
    if viewer_id is not None:
        video_id, creator_id = int(video["id"]), int(video["creator"]["id"])
        video["viewer"] = {
            "liked": video_id in await social.liked_among(viewer_id, [video_id]),
            "following": await social.is_following(viewer_id, creator_id),
        }
    return json_of(video, status_code)


@router.post("/videos", status_code=202, response_model=VideoOut, responses=ERRORS)
async def publish_video(body: PublishIn, request: Request, user_id: CurrentUser) -> Response:
    """Publish a finished upload. Identical content already on Flick is ready at once;
    otherwise the video is `processing` until its renditions exist (poll GET)."""
    services = container(request)
    video = await services.videos.publish(
        user_id, upload_id=int(body.upload_id), caption=body.caption
    )
    view = await services.videos.describe(video)
    return await _video_response(request, view, viewer_id=user_id, status_code=202)


@router.get("/users/{user_id}/videos", response_model=VideoPage, responses=ERRORS)
async def creator_videos(
    user_id: str,
    request: Request,
    viewer_id: OptionalUser,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Response:
    """A creator's videos, newest first (to the creator, also those still processing or
    failed), with counts and, signed in, whether you like each."""
    services = container(request)
    creator_id = path_id(user_id, "user")
    page = await services.videos.of_creator(
        creator_id, viewer_id=viewer_id, cursor=parse_cursor(cursor), limit=limit
    )
    social = services.social
    ids = [int(item["id"]) for item in page.items]
    liked = await social.liked_among(viewer_id, ids) if viewer_id is not None and ids else set()
    following = viewer_id is not None and await social.is_following(viewer_id, creator_id)
    for item in page.items:
        item["counts"] = await social.video_counts(int(item["id"]))
        item["viewer"] = {"liked": int(item["id"]) in liked, "following": following}
    return page_response(page.items, page.next_cursor)


@router.get("/videos/{video_id}", response_model=VideoOut, responses=ERRORS)
async def get_video(video_id: str, request: Request, viewer_id: OptionalUser) -> Response:
    """A video: status, progress, media URLs, renditions, counts and (signed in) whether you
    like it and follow its creator."""
    view = await container(request).videos.view(path_id(video_id, "video"))
    return await _video_response(request, view, viewer_id=viewer_id)


@router.delete("/videos/{video_id}", status_code=204, responses={**ERRORS, 403: PROBLEM})
async def delete_video(video_id: str, request: Request, user_id: CurrentUser) -> Response:
    """Delete your video; its media goes once no other video shares it."""
    await container(request).videos.delete(path_id(video_id, "video"), user_id=user_id)
    return Response(status_code=204)
