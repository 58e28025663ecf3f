"""GCRA rate limits per client address and per user, kept in the cache so every API process
shares one budget (with Redis) and a restart does not reset an abuser's count."""

from __future__ import annotations

from flick.gateway.problems import RateLimited
from flick.platform.cache import Cache, RateDecision
from flick.platform.settings import Settings


class RateLimiter:
    """The three budgets the gateway enforces."""

    def __init__(self, cache: Cache, settings: Settings) -> None:
        self.cache = cache
        self.settings = settings

    async def check_address(self, address: str) -> None:
        """Every API request from one client address."""
        # Written out rather than shared through a helper: this runs on every request.
        s = self.settings
        decision = await self.cache.gcra(
            f"rl:addr:{address}", rate=s.rate_per_address, burst=s.burst_per_address
        )
        if not decision.allowed:
            raise _limited(decision, s.rate_per_address, s.burst_per_address, "address")

    async def check_user(self, user_id: int) -> None:
        """Every authenticated request of one user, whichever address it comes from."""
        s = self.settings
        decision = await self.cache.gcra(
            f"rl:user:{user_id}", rate=s.rate_per_user, burst=s.burst_per_user
        )
        if not decision.allowed:
            raise _limited(decision, s.rate_per_user, s.burst_per_user, "account")

    async def check_auth_attempt(self, address: str) -> None:
        """Signups and logins from one address: slows password guessing."""
        s = self.settings
        decision = await self.cache.gcra(
            f"rl:auth:{address}", rate=s.rate_auth_attempts, burst=s.burst_auth_attempts
        )
        if not decision.allowed:
            raise _limited(
                decision, s.rate_auth_attempts, s.burst_auth_attempts, "sign-in attempts"
            )


def _limited(decision: RateDecision, rate: float, burst: int, what: str) -> RateLimited:
    return RateLimited(
        f"too many requests for this {what}: the limit is {rate:g}/s with bursts of "
        f"{burst}; retry in {decision.retry_after:.1f} s",
        retry_after=decision.retry_after,
    )
