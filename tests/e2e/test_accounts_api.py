"""Accounts through HTTP: the happy paths and every refusal the foundation issue lists,
each answered with a precise problem+json and nothing written."""

from __future__ import annotations

import statistics
import time

import httpx
from sqlalchemy import func, select

from flick.accounts import repository as repo
from flick.bootstrap import Container
from flick.platform.outbox import outbox

from .conftest import auth, signup

PROBLEM = "application/problem+json"


async def _rows(services: Container) -> dict[str, int]:
    counts = {}
    for table in (repo.users, repo.sessions, repo.username_directory, outbox):
        total = 0
        for engine in services.db.engines:
            async with engine.connect() as conn:
                total += int(await conn.scalar(select(func.count()).select_from(table)) or 0)
        counts[table.name] = total
    return counts


def assert_problem(
    response: httpx.Response, status: int, slug: str, *, detail_has: str = ""
) -> dict:  # type: ignore[type-arg]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status and body["title"] and body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert detail_has.lower() in body["detail"].lower()
    return body  # type: ignore[no-any-return]


async def test_signup_me_patch_and_public_profile(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/signup",
        json={"username": "Ana_Lima", "password": "correct horse", "display_name": "Ana"},
    )
    assert response.status_code == 201
    token, user = response.json()["token"], response.json()["user"]
    assert user["username"] == "ana_lima" and user["display_name"] == "Ana"
    assert isinstance(user["id"], str) and user["counts"]["followers"] == 0

    me = await client.get("/api/v1/me", headers=auth(token))
    assert me.status_code == 200 and me.json() == user

    patched = await client.patch(
        "/api/v1/me", json={"bio": "dancer\nLisbon", "display_name": "Ana L."}, headers=auth(token)
    )
    assert patched.status_code == 200
    assert patched.json()["bio"] == "dancer\nLisbon"
    public = await client.get("/api/v1/users/ana_lima")
    assert public.json()["display_name"] == "Ana L." and public.json()["bio"] == "dancer\nLisbon"
    assert (await client.get("/api/v1/me", headers=auth(token))).json()["display_name"] == "Ana L."


async def test_login_and_logout_revokes_the_token(client: httpx.AsyncClient) -> None:
    await signup(client, "bruno", "s3cret-pass")
    login = await client.post(
        "/api/v1/auth/login", json={"username": "BRUNO", "password": "s3cret-pass"}
    )
    assert login.status_code == 200
    token = login.json()["token"]
    assert (await client.get("/api/v1/me", headers=auth(token))).status_code == 200

    assert (await client.post("/api/v1/auth/logout", headers=auth(token))).status_code == 204
    after = await client.get("/api/v1/me", headers=auth(token))
    assert_problem(after, 401, "invalid-token", detail_has="sign in again")
    assert after.headers["www-authenticate"].startswith("Bearer")


async def test_signup_writes_user_session_directory_and_one_event(
    client: httpx.AsyncClient, services: Container
) -> None:
    await signup(client, "carla")
    assert await _rows(services) == {
        "users": 1,
        "sessions": 1,
        "username_directory": 1,
        "outbox": 1,
    }
    assert await services.relay.drain() == 1
    assert (await _rows(services))["outbox"] == 0


async def test_malformed_json_is_400_and_writes_nothing(
    client: httpx.AsyncClient, services: Container
) -> None:
    response = await client.post(
        "/api/v1/auth/signup",
        content=b'{"username": "dora", "password": ',
        headers={"content-type": "application/json"},
    )
    assert_problem(response, 400, "malformed-json", detail_has="not valid JSON")
    assert await _rows(services) == {
        "users": 0,
        "sessions": 0,
        "username_directory": 0,
        "outbox": 0,
    }


async def test_body_over_the_limit_is_413_and_writes_nothing(
    client: httpx.AsyncClient, services: Container
) -> None:
    huge = {"username": "eve", "password": "x" * (services.settings.max_body_bytes + 10)}
    response = await client.post("/api/v1/auth/signup", json=huge)
    assert_problem(
        response, 413, "body-too-large", detail_has=str(services.settings.max_body_bytes)
    )

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(services.settings.max_body_bytes // 65536 + 2):
            yield b"x" * 65536

    chunked = await client.post(
        "/api/v1/auth/signup", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_problem(chunked, 413, "body-too-large")
    assert (await _rows(services))["users"] == 0


async def test_wrong_types_are_422_naming_each_field(
    client: httpx.AsyncClient, services: Container
) -> None:
    response = await client.post("/api/v1/auth/signup", json={"username": 12, "password": ["a"]})
    body = assert_problem(response, 422, "invalid-request", detail_has="username")
    assert {e["field"] for e in body["errors"]} == {"username", "password"}
    assert "password" in body["detail"]
    assert (await _rows(services))["users"] == 0


async def test_rule_breaking_values_are_422(client: httpx.AsyncClient) -> None:
    short = await client.post(
        "/api/v1/auth/signup", json={"username": "ok_name", "password": "short"}
    )
    assert_problem(short, 422, "invalid-input", detail_has="8 to 256")
    bad_name = await client.post(
        "/api/v1/auth/signup", json={"username": "no spaces!", "password": "long enough"}
    )
    assert_problem(bad_name, 422, "invalid-input", detail_has="letters a-z")
    token = await signup(client, "frank")
    control = await client.patch("/api/v1/me", json={"display_name": "a\x07b"}, headers=auth(token))
    assert_problem(control, 422, "invalid-input", detail_has="control characters")


async def test_taken_username_is_409_and_writes_nothing(
    client: httpx.AsyncClient, services: Container
) -> None:
    await signup(client, "gina")
    before = await _rows(services)
    again = await client.post(
        "/api/v1/auth/signup", json={"username": "GINA", "password": "another pass"}
    )
    assert_problem(again, 409, "username-taken", detail_has="'gina' is taken")
    assert await _rows(services) == before


async def test_wrong_password_and_unknown_user_get_the_same_answer(
    client: httpx.AsyncClient, services: Container
) -> None:
    await signup(client, "hugo", "the real password")
    before = await _rows(services)
    wrong = await client.post(
        "/api/v1/auth/login", json={"username": "hugo", "password": "not it at all"}
    )
    unknown = await client.post(
        "/api/v1/auth/login", json={"username": "nobody", "password": "not it at all"}
    )
    for response in (wrong, unknown):
        assert_problem(response, 401, "invalid-credentials")
    strip = lambda body: {k: v for k, v in body.items() if k != "request_id"}  # noqa: E731
    assert strip(wrong.json()) == strip(unknown.json())
    assert await _rows(services) == before


async def test_unknown_user_costs_a_password_hash_like_a_wrong_password(
    client: httpx.AsyncClient,
) -> None:
    # The timing shape, not a speed: both paths run argon2id once, so their medians are of
    # one order, while a path skipping the hash would be ~100x faster. (No absolute times.)
    await signup(client, "ivan", "the real password")

    async def median_ms(username: str) -> float:
        samples = []
        for _ in range(7):
            started = time.perf_counter()
            await client.post(
                "/api/v1/auth/login", json={"username": username, "password": "wrong guess"}
            )
            samples.append(time.perf_counter() - started)
        return statistics.median(samples) * 1000

    known, unknown = await median_ms("ivan"), await median_ms("nobody_here")
    assert 0.33 < unknown / known < 3.0, (known, unknown)


async def test_forged_and_malformed_tokens_are_401(client: httpx.AsyncClient) -> None:
    token = await signup(client, "jade")
    session_id, _, secret = token.partition(".")
    forged = f"{session_id}.{'A' * len(secret)}"
    for bad in (forged, "not-a-token", f"{int(session_id) + 1}.{secret}", ""):
        response = await client.get("/api/v1/me", headers=auth(bad))
        assert_problem(response, 401, "invalid-token")
    missing = await client.get("/api/v1/me")
    assert_problem(missing, 401, "invalid-token", detail_has="Authorization: Bearer")


async def test_unknown_user_and_route_are_404_problems(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/users/nobody"), 404, "not-found", detail_has="nobody")
    assert_problem(await client.get("/api/v1/nothing-here"), 404, "not-found", detail_has="/docs")


async def test_request_ids_are_echoed_or_minted(client: httpx.AsyncClient) -> None:
    given = await client.get("/healthz", headers={"x-request-id": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    minted = [(await client.get("/healthz")).headers["x-request-id"] for _ in range(3)]
    assert len(set(minted)) == 3


async def test_operations_endpoints(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and set(ready.json()["checks"]) == {
        "sql",
        "cache",
        "bus",
        "blobs",
    }
    await client.get("/api/v1/users/nobody")
    metrics = (await client.get("/metrics")).text
    assert (
        'flick_http_requests_total{method="GET",route="/api/v1/users/{username}",status="404"}'
        in metrics
    )
    assert 'flick_gc_pause_seconds_count{generation="2"}' in metrics
    spec = (await client.get("/openapi.json")).json()
    assert "/api/v1/me" in spec["paths"] and "/api/v1/auth/signup" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200


async def test_a_patch_that_changes_nothing_writes_no_event(
    client: httpx.AsyncClient, services: Container
) -> None:
    token = await signup(client, "nora")
    await services.relay.drain()
    same = await client.patch("/api/v1/me", json={"display_name": "nora"}, headers=auth(token))
    assert same.status_code == 200 and same.json()["display_name"] == "nora"
    assert (await _rows(services))["outbox"] == 0
    changed = await client.patch("/api/v1/me", json={"bio": "hi"}, headers=auth(token))
    assert changed.json()["bio"] == "hi"
    assert (await _rows(services))["outbox"] == 1
