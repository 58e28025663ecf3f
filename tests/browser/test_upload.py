"""Upload through the page: tus in small chunks, paused, resumed after a reload, published,
and followed through processing until the video is ready and plays."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Request, Route, expect

from .conftest import Flick, OpenPage, shoot
from .test_feed import wait_playing

CHUNK = 16 * 1024  # many PATCHes for a small clip (~150 KB), so the upload can stop part way
STALL_AT_PATCH = 4  # this PATCH never gets an answer: the connection "hangs"


def test_upload_pause_reload_resume_until_ready(
    open_page: OpenPage, flick: Flick, clips: dict[str, Path]
) -> None:
    account = flick.signup("uploader")
    page = open_page(account)
    page.add_init_script(f"localStorage.setItem('flick.uploadChunkBytes', '{CHUNK}')")
    patches: list[Route] = []

    def stall_late_patches(route: Route, request: Request) -> None:
        if request.method != "PATCH":
            route.continue_()
            return
        patches.append(route)
        if len(patches) < STALL_AT_PATCH:
            route.continue_()  # a stalled one is never answered

    page.route("**/api/v1/uploads/*", stall_late_patches)
    page.goto("/upload")
    page.locator("#file").set_input_files(clips["page"])
    page.locator("#caption").fill("Bars and tones #colors #flicktest")
    expect(page.locator(".chip")).to_have_text(["#colors", "#flicktest"])
    page.get_by_role("button", name="Post").click()
    expect(page.locator(".upload-status")).to_contain_text("Uploading")
    for _ in range(200):  # until the stalled PATCH is sent (route handlers run meanwhile)
        if len(patches) == STALL_AT_PATCH:
            break
        page.wait_for_timeout(50)
    assert len(patches) == STALL_AT_PATCH
    page.get_by_role("button", name="Pause").click()
    expect(page.locator(".upload-status")).to_contain_text("Paused at")
    shoot(page, "10-upload-paused")

    page.unroute("**/api/v1/uploads/*")
    page.reload()
    expect(page.locator(".resume-banner")).to_contain_text("Unfinished upload: upload.mp4")
    expect(page.locator("#caption")).to_have_value("Bars and tones #colors #flicktest")
    shoot(page, "11-upload-resume-after-reload")
    resumed_offsets: list[int] = []
    page.on(
        "request",
        lambda r: (
            r.method == "PATCH"
            and resumed_offsets.append(int(r.headers.get("upload-offset", "-1")))
        ),
    )
    page.locator("#file").set_input_files(clips["page"])
    page.get_by_role("button", name="Post").click()

    status = page.locator(".upload-status")
    expect(status).to_contain_text("Processing", timeout=30_000)
    shoot(page, "12-upload-processing")
    assert resumed_offsets and resumed_offsets[0] >= (STALL_AT_PATCH - 1) * CHUNK
    expect(status).to_contain_text("Your video is ready", timeout=60_000)
    shoot(page, "13-upload-ready")

    page.get_by_role("link", name="Watch it").click()
    expect(page).to_have_url(re.compile(r"/v/\d+$"))
    wait_playing(page)
    expect(page.locator(".slide.active .caption")).to_contain_text("Bars and tones")
    shoot(page, "14-upload-watch")
