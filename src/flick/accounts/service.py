"""Account use cases: check -> write -> record events. Each owns a short transaction on the
owner's shard (accounts are the strong-consistency tier)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import orjson

from flick.accounts import repository as repo
from flick.accounts.events import TOPIC, ProfileUpdated, UserSignedUp
from flick.accounts.model import (
    BIO_MAX,
    DISPLAY_NAME_MAX,
    InvalidCredentials,
    InvalidToken,
    Session,
    User,
    UsernameTaken,
    check_password,
    clean_text,
    normalize_username,
    public_view,
)
from flick.accounts.passwords import PasswordHasher
from flick.platform.batching import SingleFlight
from flick.platform.cache import Cache
from flick.platform.errors import InvalidInput, NotFound
from flick.platform.ids import new_id, random_shard, shard_of
from flick.platform.outbox import record_event
from flick.platform.sql import DIRECTORY_SHARD, Database

SESSION_CACHE_TTL = 300.0  # a revoked token is deleted from the cache at once; this bounds misses
USER_CACHE_TTL = 300.0
VERIFIED_TOKENS_MAX = 50_000  # tokens whose hash check is remembered (see authenticate)
STALE_CLAIM_S = 60.0  # a username claim older than this whose user row never appeared is free


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A fresh login: the bearer token (shown once) and the user."""

    token: str
    user: User


class Accounts:
    """The accounts service. Built once by bootstrap; safe to share between requests."""

    def __init__(
        self,
        db: Database,
        cache: Cache,
        hasher: PasswordHasher,
        *,
        session_ttl_s: float,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.cache = cache
        self.hasher = hasher
        self.session_ttl_s = session_ttl_s
        self.on_commit = on_commit  # wakes the in-process outbox relay
        self._session_loads: SingleFlight[bytes] = SingleFlight()
        # token -> (cached session bytes it was verified against, user id, expiry)
        self._verified: dict[str, tuple[bytes, int, float]] = {}

    # --- signup, login, logout -------------------------------------------------------------

    async def signup(self, username: str, *, password: str, display_name: str = "") -> SignedIn:
        """Create an account and sign it in. UsernameTaken if the name is held."""
        username = normalize_username(username)
        check_password(password)
        display_name = clean_text(
            display_name or username, field="display_name", limit=DISPLAY_NAME_MAX
        )
        await self._ensure_username_free(username)
        now = time.time()
        shard = random_shard()
        user = User(
            id=new_id(shard),
            username=username,
            display_name=display_name,
            bio="",
            password_hash=await self.hasher.hash(password),
            created_at=now,
        )
        token, session = self._new_session(user.id, now)
        await self._create_account(user, session, now)
        self.on_commit()
        return SignedIn(token=token, user=user)

    async def login(self, username: str, *, password: str) -> SignedIn:
        """A new session for correct credentials; the same InvalidCredentials otherwise."""
        user = await self._user_for_login(username)
        if not await self.hasher.verify(user.password_hash if user else None, password):
            raise InvalidCredentials("the username or password is wrong")
        assert user is not None  # verify() is False without a hash
        now = time.time()
        token, session = self._new_session(user.id, now)
        async with self.db.transaction(shard_of(user.id)) as conn:
            await repo.insert_session(conn, session, now=now)
            if self.hasher.needs_rehash(user.password_hash):
                await repo.set_password_hash(conn, user.id, await self.hasher.hash(password))
        return SignedIn(token=token, user=user)

    async def logout(self, token: str) -> None:
        """Revoke the session behind a token, everywhere, at once."""
        session_id, _secret = _parse_token(token)
        async with self.db.transaction(shard_of(session_id)) as conn:
            await repo.revoke_session(conn, session_id, now=time.time())
        await self.cache.delete(_session_key(session_id))

    async def authenticate(self, token: str) -> int:
        """The user id a bearer token stands for; InvalidToken if forged, expired or revoked."""
        session_id, secret = _parse_token(token)
        cached = await self.cache.get(_session_key(session_id))
        if cached is None:
            key = str(session_id)
            cached = await self._session_loads.run(key, lambda: self._load_session(session_id))
        # The cache is read on every request, so a logout anywhere takes effect at once; what
        # is remembered here is only that this token matched these exact cached bytes.
        now = time.time()
        verified = self._verified.get(token)
        if verified is not None and verified[0] == cached and verified[2] >= now:
            return verified[1]
        user_id, secret_hash, expires_at = orjson.loads(cached)
        digest = hashlib.sha256(secret.encode()).hexdigest()
        if not hmac.compare_digest(digest, secret_hash) or expires_at < now:
            raise InvalidToken("the session token is not valid; sign in again")
        if len(self._verified) >= VERIFIED_TOKENS_MAX:
            self._verified.clear()  # crude but bounded; refilling costs one hash per token
        self._verified[token] = (cached, int(user_id), float(expires_at))
        return int(user_id)

    # --- profiles ------------------------------------------------------------------------

    async def user_json(self, user_id: int) -> bytes:
        """The encoded `user` object, from the cache when warm (the hot path of GET /me)."""
        key = _user_key(user_id)
        encoded = await self.cache.get(key)
        if encoded is None:
            encoded = orjson.dumps(public_view(await self.get_user(user_id)))
            await self.cache.set(key, encoded, ttl=USER_CACHE_TTL)
        return encoded

    async def user_json_many(self, user_ids: Sequence[int]) -> dict[int, bytes]:
        """`user_json` of each user: one cache read for them all, SQL for the misses."""
        found = await self.cache.get_many([_user_key(user_id) for user_id in user_ids])
        encoded = {}
        for user_id, raw in zip(user_ids, found, strict=True):
            encoded[user_id] = raw if raw is not None else await self.user_json(user_id)
        return encoded

    async def get_user(self, user_id: int) -> User:
        """A user by id; NotFound if there is none."""
        async with self.db.read(shard_of(user_id)) as conn:
            user = await repo.get_user(conn, user_id)
        if user is None:
            raise NotFound(f"there is no user with id {user_id}")
        return user

    async def user_json_by_username(self, username: str) -> bytes:
        """The encoded `user` object for a username; NotFound if nobody has it."""
        user_id = await self._lookup(username.strip().lower())
        if user_id is None:
            raise NotFound(f"there is no user called {username.strip()[:40]!r}")
        return await self.user_json(user_id)

    async def update_profile(
        self, user_id: int, *, display_name: str | None = None, bio: str | None = None
    ) -> bytes:
        """Change the display name and/or bio; returns the encoded updated user."""
        current = await self.get_user(user_id)
        new_name = current.display_name
        if display_name is not None:
            new_name = clean_text(display_name, field="display_name", limit=DISPLAY_NAME_MAX)
            if not new_name:
                raise InvalidInput("display_name may not be empty", field="display_name")
        new_bio = (
            current.bio
            if bio is None
            else clean_text(bio, field="bio", limit=BIO_MAX, multiline=True)
        )
        if (new_name, new_bio) == (current.display_name, current.bio):
            return await self.user_json(user_id)  # nothing changed: no write, no event
        async with self.db.transaction(shard_of(user_id)) as conn:
            await repo.update_profile(
                conn, user_id, display_name=new_name, bio=new_bio, now=time.time()
            )
            event = ProfileUpdated(user_id=user_id, display_name=new_name, bio=new_bio)
            await record_event(conn, TOPIC, event.to_event())
        self.on_commit()
        # Delete rather than overwrite: another process reads the new row on its next miss.
        await self.cache.delete(_user_key(user_id))
        return await self.user_json(user_id)

    # --- internals -----------------------------------------------------------------------

    def _new_session(self, user_id: int, now: float) -> tuple[str, Session]:
        session_id = new_id(shard_of(user_id))
        secret = secrets.token_urlsafe(32)
        session = Session(
            id=session_id,
            user_id=user_id,
            secret_hash=hashlib.sha256(secret.encode()).digest(),
            expires_at=now + self.session_ttl_s,
            revoked_at=None,
        )
        return f"{session_id}.{secret}", session

    async def _load_session(self, session_id: int) -> bytes:
        async with self.db.read(shard_of(session_id)) as conn:
            session = await repo.get_session(conn, session_id)
        if session is None or session.revoked_at is not None:
            raise InvalidToken("the session token is not valid; sign in again")
        encoded = orjson.dumps([session.user_id, session.secret_hash.hex(), session.expires_at])
        ttl = min(SESSION_CACHE_TTL, session.expires_at - time.time())
        if ttl > 0:
            await self.cache.set(_session_key(session_id), encoded, ttl=ttl)
        return encoded

    async def _lookup(self, username: str) -> int | None:
        async with self.db.read(DIRECTORY_SHARD) as conn:
            found = await repo.user_id_for(conn, username)
        return found[0] if found else None

    async def _user_for_login(self, username: str) -> User | None:
        try:
            user_id = await self._lookup(normalize_username(username))
        except InvalidInput:
            return None  # an impossible name is just an unknown user: same answer, same time
        if user_id is None:
            return None
        async with self.db.read(shard_of(user_id)) as conn:
            return await repo.get_user(conn, user_id)

    async def _ensure_username_free(self, username: str) -> None:
        # A cheap early check so a taken name costs no password hash; the claim decides.
        async with self.db.read(DIRECTORY_SHARD) as conn:
            found = await repo.user_id_for(conn, username)
        if found is not None and not await self._stale(found, time.time()):
            raise UsernameTaken(f"the username {username!r} is taken; choose another")

    async def _create_account(self, user: User, session: Session, now: float) -> None:
        shard = shard_of(user.id)
        if self.db.same_database(DIRECTORY_SHARD, shard):
            async with self.db.transaction(shard) as conn:
                if not await repo.claim_username(conn, user.username, user.id, now):
                    raise UsernameTaken(f"the username {user.username!r} is taken; choose another")
                await self._write_user(conn, user, session, now)
            return
        await self._claim_across_databases(user, now)
        try:
            async with self.db.transaction(shard) as conn:
                await self._write_user(conn, user, session, now)
        except BaseException:
            async with self.db.transaction(DIRECTORY_SHARD) as conn:
                await repo.release_username(conn, user.username, user.id)
            raise

    async def _claim_across_databases(self, user: User, now: float) -> None:
        async with self.db.transaction(DIRECTORY_SHARD) as conn:
            if await repo.claim_username(conn, user.username, user.id, now):
                return
            found = await repo.user_id_for(conn, user.username)
            if found and await self._stale(found, now):
                stale_id = found[0]
                if await repo.take_over_claim(
                    conn, user.username, stale_user_id=stale_id, user_id=user.id, now=now
                ):
                    return
        raise UsernameTaken(f"the username {user.username!r} is taken; choose another")

    async def _stale(self, found: tuple[int, float], now: float) -> bool:
        """A claim left by a signup that died between its two databases."""
        user_id, claimed_at = found
        if now - claimed_at < STALE_CLAIM_S:
            return False
        async with self.db.read(shard_of(user_id)) as conn:
            return await repo.get_user(conn, user_id) is None

    @staticmethod
    async def _write_user(
        conn: repo.AsyncConnection, user: User, session: Session, now: float
    ) -> None:
        await repo.insert_user(conn, user)
        await repo.insert_session(conn, session, now=now)
        event = UserSignedUp(user_id=user.id, username=user.username)
        await record_event(conn, TOPIC, event.to_event())

    # --- catalog scans -------------------------------------------------------------------

    async def all_users(self, *, page: int = 1000) -> AsyncIterator[User]:
        """Every user, database by database in id order (search rebuilds its index so)."""
        for engine in self.db.engines:
            after = 0
            while True:
                async with engine.connect() as conn:
                    found = await repo.users_after(conn, after, limit=page)
                for user in found:
                    yield user
                if len(found) < page:
                    break
                after = found[-1].id


def _parse_token(token: str) -> tuple[int, str]:
    session_part, dot, secret = token.partition(".")
    if (
        not dot
        or not session_part.isdigit()
        or len(session_part) > 20
        or not 20 <= len(secret) <= 100
    ):
        raise InvalidToken("the session token is malformed; sign in again")
    return int(session_part), secret


def _session_key(session_id: int) -> str:
    return f"sess:{session_id}"


def _user_key(user_id: int) -> str:
    return f"user:{user_id}"
