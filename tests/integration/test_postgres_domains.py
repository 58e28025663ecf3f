"""The ingest and social domains on two PostgreSQL shard databases: uploads, publishing, dedup
references on shard 0, follows across shards, likes, comments. The e2e tests run the same
routes on SQLite; this proves the queries (upserts, compare-and-set, cursors) on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import httpx
import pytest

from flick.bootstrap import Container, bootstrap
from flick.gateway.app import build_app
from flick.migrations import upgrade_all
from flick.platform.ids import shard_of

from ..e2e.conftest import auth, embedded_settings, signup, tus_upload, user_id


@pytest.fixture
async def client(tmp_path, make_postgres_database) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    first, second = await make_postgres_database(), await make_postgres_database()
    shards = f"0-511={first};512-1023={second}"
    services: Container = await bootstrap(embedded_settings(tmp_path, db_shards=shards))
    await upgrade_all(services.db)
    transport = httpx.ASGITransport(app=build_app(services))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://flick.test") as http:
            yield http
    finally:
        await services.close()


User = tuple[str, int, str]  # token, id, username


async def users_in_both_databases(client: httpx.AsyncClient, count: int = 4) -> list[User]:
    """`count` new users, the first (the creator) in one database and at least one of the
    others in the other: accounts land on a random shard, so sign up until that holds."""
    users: list[User] = []
    for number in range(40):
        token = await signup(client, f"user{number}")
        users.append((token, await user_id(client, token), f"user{number}"))
        creator, others = users[0], users[1:]
        far = [u for u in others if _half(u) != _half(creator)]
        if len(users) >= count and far:
            near = [u for u in others if u is not far[0]][: count - 2]
            return [creator, *near, far[0]]
    pytest.fail("40 sign-ups never reached both databases")


def _half(user: User) -> bool:
    return shard_of(user[1]) < 512


async def test_publish_follow_like_comment_across_shards(client: httpx.AsyncClient) -> None:
    users = await users_in_both_databases(client)
    (ana_token, ana, _), (bob_token, _, _) = users[0], users[1]
    data = os.urandom(50_000)
    published = []
    for token in (ana_token, bob_token):  # the same bytes twice: one asset, two references
        upload_id = await tus_upload(client, token, data, chunk=len(data) // 2)
        body = {"upload_id": upload_id, "caption": "#same"}
        response = await client.post("/api/v1/videos", json=body, headers=auth(token))
        assert response.status_code == 202, response.text
        published.append(response.json())
    assert [v["status"] for v in published] == ["processing", "processing"]
    video = published[0]["id"]

    for token, _, name in users[1:]:
        follow = await client.post(f"/api/v1/users/{ana}/follow", headers=auth(token))
        assert follow.status_code == 204
        liked = await client.post(f"/api/v1/videos/{video}/like", headers=auth(token))
        assert liked.status_code == 204
        await client.post(
            f"/api/v1/videos/{video}/comments", json={"text": name}, headers=auth(token)
        )
    newest_first = [name for _, _, name in reversed(users[1:])]
    page = await client.get(f"/api/v1/users/{ana}/followers?limit=2")
    rest = await client.get(
        f"/api/v1/users/{ana}/followers?limit=2&cursor={page.json()['next_cursor']}"
    )
    assert [u["username"] for u in page.json()["items"] + rest.json()["items"]] == newest_first
    comments = (await client.get(f"/api/v1/videos/{video}/comments")).json()["items"]
    assert [c["text"] for c in comments] == newest_first
    deleted = await client.delete(f"/api/v1/videos/{video}", headers=auth(ana_token))
    assert deleted.status_code == 204
    still = await client.get(f"/api/v1/videos/{published[1]['id']}")
    assert still.status_code == 200  # bob's video keeps the shared asset
