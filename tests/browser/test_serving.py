"""How Flick serves the built web app (no browser needed): files, the index.html fallback
for app routes, cache headers, and the server's own paths left to the API."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from flick.gateway.webapp import HASHED_CACHE, WebApp


async def api(scope: Scope, receive: Receive, send: Send) -> None:
    """Stands in for the FastAPI app: says it answered."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 299, "headers": []})
    await send({"type": "http.response.body", "body": b"api"})


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>Flick</title>")
    (tmp_path / "assets" / "index-Ab12Cd.js").write_text("console.log('flick')")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    return tmp_path


def client(dist: Path) -> TestClient:
    """Synchronous on purpose: see conftest.py."""
    return TestClient(WebApp(api, dist=dist), base_url="http://flick.test")


def test_app_routes_get_index_html_revalidated_every_time(dist: Path) -> None:
    with client(dist) as http:
        for path in ("/", "/following", "/u/ana", "/v/123?share=9", "/search"):
            response = http.get(path)
            assert response.status_code == 200, path
            assert "<title>Flick</title>" in response.text
            assert response.headers["cache-control"] == "no-cache"
        again = http.get("/", headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304


def test_hashed_assets_are_cached_for_a_year_and_others_revalidated(dist: Path) -> None:
    with client(dist) as http:
        script = http.get("/assets/index-Ab12Cd.js")
        assert script.status_code == 200
        assert script.headers["cache-control"] == HASHED_CACHE
        assert "javascript" in script.headers["content-type"]
        icon = http.get("/favicon.svg")
        assert icon.headers["cache-control"] == "no-cache"
        head = http.head("/assets/index-Ab12Cd.js")
        assert head.status_code == 200 and head.content == b""


def test_missing_files_are_404_not_the_app(dist: Path) -> None:
    with client(dist) as http:
        for path in ("/assets/gone-123.js", "/robots.txt"):
            missing = http.get(path)
            assert missing.status_code == 404
            assert missing.headers["content-type"] == "application/problem+json"
            assert "neither a file of the web app" in missing.json()["detail"]


def test_paths_cannot_leave_the_build_folder(dist: Path) -> None:
    (dist.parent / "secret.txt").write_text("not for the web")
    response = WebApp(api, dist=dist).response("/../secret.txt", None)
    assert response.status_code == 404
    fallback = WebApp(api, dist=dist).response("/../../etc/passwd", None)
    assert getattr(fallback, "path", None) == dist / "index.html"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/me"),
        ("GET", "/api"),
        ("GET", "/media/1/master.m3u8"),
        ("GET", "/docs"),
        ("GET", "/docs/oauth2-redirect"),
        ("GET", "/openapi.json"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("POST", "/"),
        ("DELETE", "/u/ana"),
    ],
)
def test_the_servers_own_paths_and_other_methods_reach_the_api(
    dist: Path, method: str, path: str
) -> None:
    with client(dist) as http:
        response = http.request(method, path)
    assert (response.status_code, response.text) == (299, "api")


def test_without_a_build_the_root_says_how_to_build_it(tmp_path: Path) -> None:
    with client(tmp_path / "missing") as http:
        response = http.get("/")
        assert response.status_code == 200
        assert "npm ci" in response.text and "./run demo" in response.text
        assert (http.get("/api/v1/me")).text == "api"
