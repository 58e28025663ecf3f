"""GCRA limits: per client address, per user, and on sign-in attempts; 429 with Retry-After."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from flick.bootstrap import bootstrap
from flick.gateway.app import build_app
from flick.migrations import upgrade_all

from .conftest import auth, embedded_settings, signup
from .test_accounts_api import assert_problem


async def _client(
    tmp_path, address: str = "198.51.100.1", **limits
) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    services = await bootstrap(embedded_settings(tmp_path, **limits))
    await upgrade_all(services.db)
    transport = httpx.ASGITransport(app=build_app(services), client=(address, 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://flick.test") as http:
        yield http
    await services.close()


@pytest.fixture
async def strict_address(tmp_path) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    async for http in _client(tmp_path, rate_per_address=1.0, burst_per_address=5):
        yield http


async def test_address_over_its_rate_gets_429_with_retry_after(
    strict_address: httpx.AsyncClient,
) -> None:
    answers = [await strict_address.get("/api/v1/users/nobody") for _ in range(6)]
    assert [r.status_code for r in answers[:5]] == [404] * 5
    body = assert_problem(answers[5], 429, "rate-limited", detail_has="address")
    assert int(answers[5].headers["retry-after"]) >= 1
    assert "1/s" in body["detail"]
    # Operational endpoints are outside the API budget: probes keep working.
    assert (await strict_address.get("/healthz")).status_code == 200


async def test_user_over_their_rate_gets_429(tmp_path) -> None:  # type: ignore[no-untyped-def]
    async for http in _client(tmp_path, rate_per_user=1.0, burst_per_user=3):
        token = await signup(http, "kim")
        codes = [(await http.get("/api/v1/me", headers=auth(token))).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        # another user is not affected
        other = await signup(http, "lou")
        assert (await http.get("/api/v1/me", headers=auth(other))).status_code == 200


async def test_sign_in_attempts_are_limited_per_address(tmp_path) -> None:  # type: ignore[no-untyped-def]
    async for http in _client(tmp_path, rate_auth_attempts=0.1, burst_auth_attempts=3):
        guesses = [
            await http.post(
                "/api/v1/auth/login", json={"username": "x_y", "password": "guess guess"}
            )
            for _ in range(4)
        ]
        assert [r.status_code for r in guesses] == [401, 401, 401, 429]
        assert_problem(guesses[3], 429, "rate-limited", detail_has="sign-in attempts")


async def test_sign_in_attempts_count_the_forwarded_address_behind_a_trusted_proxy(
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    limits = {"rate_auth_attempts": 0.1, "burst_auth_attempts": 1, "trust_forwarded_for": True}
    async for http in _client(tmp_path, **limits):
        login = {"username": "x_y", "password": "guess guess"}
        codes = [
            (
                await http.post("/api/v1/auth/login", json=login, headers={"x-forwarded-for": ip})
            ).status_code
            for ip in ("192.0.2.1", "192.0.2.2", "192.0.2.1")
        ]
        assert codes == [401, 401, 429]  # two clients behind one proxy, each with its budget
