"""argon2id password hashing, run off the event loop (each hash costs tens of milliseconds)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class PasswordHasher:
    """Hashes and verifies passwords with argon2id."""

    def __init__(self, *, time_cost: int = 3, memory_kib: int = 65536) -> None:
        self._argon = Argon2Hasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=1, type=Type.ID
        )
        # Verified against when the username is unknown, so a wrong username costs the same
        # time as a wrong password and the answer does not reveal which accounts exist.
        self._decoy_hash = self._argon.hash("decoy password that matches nothing")

    async def hash(self, password: str) -> str:
        """A new salted argon2id hash."""
        return await asyncio.to_thread(self._argon.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether `password` matches; with no hash, spend the same time and say no."""
        return await asyncio.to_thread(self._verify, password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with weaker settings than today's."""
        return self._argon.check_needs_rehash(password_hash)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            self._argon.verify(password_hash or self._decoy_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return password_hash is not None
