"""Browser tests: Playwright drives Debian's chromium against a real `flick serve` that serves
the built web app (web/dist) on a free port with a temporary data directory.

Chromium and web/dist come from `./run test` (apt_chromium, web_build). Without them these
tests skip with the reason, unless FLICK_REQUIRE_SERVICES=1 (CI), where they fail.
Screenshots of every page land in var/test-artifacts/browser/.

Playwright's sync API keeps an event loop running in the main thread while it is open, which
async tests cannot share: its fixtures are package-scoped, so it closes before the next
package's tests, and the tests in this package are all synchronous.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from tusclient import client as tus_client

from flick.gateway.webapp import DIST
from flick.media.clips import make_clip

from ..processes import FlickProcess

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("FLICK_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "hunter2hunter2"
PHONE = {"width": 390, "height": 844}  # an iPhone 12-14's CSS viewport
# Tiny portrait clips: 720 px on the short side gives two H.264 rungs (360p and 720p).
CLIP = {"seconds": 2.5, "width": 720, "height": 1280}
SERVER_ENV = {
    "FLICK_PASSWORD_TIME_COST": "1",  # cheap argon2: the algorithm is the same
    "FLICK_PASSWORD_MEMORY_KIB": "1024",
    "FLICK_RATE_AUTH_ATTEMPTS": "1000",  # every test signs up from 127.0.0.1
    "FLICK_BURST_AUTH_ATTEMPTS": "1000",
    "FLICK_RATE_PER_ADDRESS": "1000",
    "FLICK_BURST_PER_ADDRESS": "5000",
    "FLICK_TRANSCODE_HEVC": "false",  # the HEVC pass doubles the transcode; H.264 is tested
    "FLICK_FORYOU_CACHE_S": "2",  # a test's fresh videos reach For You on the next load
}


def require(ok: bool, reason: str) -> None:
    """Skip with `reason`, or fail with it when FLICK_REQUIRE_SERVICES=1 (CI)."""
    if ok:
        return
    if os.environ.get("FLICK_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} and FLICK_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    require(
        Path(CHROMIUM).is_file(),
        f"chromium is not installed at {CHROMIUM} (./run test installs Debian's chromium)",
    )
    require(
        (DIST / "index.html").is_file(),
        "the web app is not built (./run test builds it: cd web && npm ci && npm run build)",
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


@pytest.fixture(scope="package")
def server(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlickProcess]:
    """One `flick serve` (API, relay and transcode worker) for every browser test."""
    tmp = tmp_path_factory.mktemp("browser-server")
    env = {**SERVER_ENV, "FLICK_DATA_DIR": str(tmp / "data")}
    process = FlickProcess("all", env=env, log=tmp / "server.log").start()
    try:
        yield process.wait_ready()
    finally:
        process.stop()


@dataclass
class Account:
    token: str
    user: dict[str, Any]

    @property
    def username(self) -> str:
        return str(self.user["username"])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Flick:
    """The server's API, for arranging what a test needs and checking what the page did."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.numbers = iter(range(1, 1_000_000))

    def username(self, prefix: str) -> str:
        return f"{prefix}{next(self.numbers)}"

    def signup(self, prefix: str) -> Account:
        response = httpx.post(
            f"{self.url}/api/v1/auth/signup",
            json={"username": self.username(prefix), "password": PASSWORD},
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return Account(body["token"], body["user"])

    def get(self, path: str, account: Account) -> Any:
        response = httpx.get(f"{self.url}/api/v1{path}", headers=account.headers)
        assert response.status_code == 200, response.text
        return response.json()

    def publish(self, account: Account, clip: Path, caption: str) -> dict[str, Any]:
        """Upload over tus, publish, and wait until the video is ready."""
        tus = tus_client.TusClient(f"{self.url}/api/v1/uploads", headers=account.headers)
        uploader = tus.uploader(str(clip), chunk_size=1 << 20, metadata={"caption": caption})
        uploader.upload()
        assert uploader.url is not None
        upload_id = uploader.url.rsplit("/", 1)[1]
        response = httpx.post(
            f"{self.url}/api/v1/videos",
            json={"upload_id": upload_id, "caption": caption},
            headers=account.headers,
        )
        assert response.status_code == 202, response.text
        return self.wait_ready(account, response.json()["id"])

    def wait_ready(self, account: Account, video_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            video: dict[str, Any] = self.get(f"/videos/{video_id}", account)
            if video["status"] != "processing":
                assert video["status"] == "ready", video
                return video
            time.sleep(0.2)
        pytest.fail(f"video {video_id} was not ready within {timeout} s")


@pytest.fixture(scope="package")
def flick(server: FlickProcess) -> Flick:
    return Flick(server.url)


@pytest.fixture(scope="package")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two different tiny clips: one published through the API, one through the page."""
    folder = tmp_path_factory.mktemp("clips")

    async def make() -> dict[str, Path]:
        feed, page = folder / "feed.mp4", folder / "upload.mp4"
        await asyncio.gather(
            make_clip(feed, **CLIP, pattern="testsrc2"),  # type: ignore[arg-type]
            make_clip(page, **CLIP, pattern="smptebars", tone_hz=660),  # type: ignore[arg-type]
        )
        return {"feed": feed, "page": page}

    # Playwright's sync API keeps an event loop running in this thread: make them in another.
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, make()).result()


@dataclass
class Published:
    creators: list[Account]
    videos: list[dict[str, Any]]


@pytest.fixture(scope="package")
def published(flick: Flick, clips: dict[str, Path]) -> Published:
    """Two creators with a ready video each (For You shows one video per creator at a
    time). The same bytes twice: the second upload is deduplicated, not transcoded again."""
    creators = [flick.signup("creator"), flick.signup("maker")]
    captions = ["Sunset over the bay #sunset #flicktest", "Morning run #fitness #flicktest"]
    videos = [
        flick.publish(c, clips["feed"], text) for c, text in zip(creators, captions, strict=True)
    ]
    return Published(creators, videos)


OpenPage = Callable[..., Page]


@pytest.fixture
def open_page(browser: Browser, flick: Flick) -> Iterator[OpenPage]:
    """Opens phone-sized pages, each in its own context (its own localStorage), signed in
    as the account given; closes them after the test, which fails on any uncaught error
    a page raised."""
    opened: list[tuple[BrowserContext, list[str]]] = []

    def open_(account: Account | None = None, **options: Any) -> Page:
        context = browser.new_context(viewport=PHONE, base_url=flick.url, **options)
        if account is not None:
            token, user = json.dumps(account.token), json.dumps(json.dumps(account.user))
            context.add_init_script(
                f"localStorage.setItem('flick.token', {token});"
                f"localStorage.setItem('flick.user', {user});"
            )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        opened.append((context, errors))
        return page

    yield open_
    for context, _ in opened:
        context.close()
    assert [e for _, errors in opened for e in errors] == [], "uncaught errors in the page"


def shoot(page: Page, name: str) -> None:
    """Keep a screenshot as a test artifact (var/test-artifacts/browser/NAME.png)."""
    page.screenshot(path=ARTIFACTS / f"{name}.png")
