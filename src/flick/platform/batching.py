"""Group commit: many concurrent callers, one write.

Each caller awaits `submit(item)`; one flusher task takes everything queued so far and
writes it in one call (one transaction), then answers every caller. While a flush runs, new
items queue, so batches grow with load and an idle system adds no wait: the first item is
flushed on the next turn of the event loop. This is how databases make commits cheap under
load (PostgreSQL's commit_delay, MySQL's binlog group commit), done here one level up, where
it also saves the per-statement cost of the driver.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

Flush = Callable[[list[Item]], Awaitable[Sequence[Result]]]


class GroupCommit(Generic[Item, Result]):
    """Coalesces concurrent `submit` calls into calls of `flush(items) -> results` (one result
    per item, in order). A failed batch is flushed again item by item, so one bad item fails
    its own caller only; `flush` must therefore be all-or-nothing (one transaction)."""

    def __init__(
        self, flush: Flush[Item, Result], *, max_batch: int = 512, linger_s: float = 0.0
    ) -> None:
        self._flush = flush
        self._max_batch = max_batch
        # How long a batch waits for company before it is written, while the last batch had
        # company (under load): 0 for callers who wait on the answer (requests), more where
        # many producers wake at once and bigger batches save more (consumers). When idle,
        # one item is written at once.
        self._linger_s = linger_s
        self._busy = False
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.flushes = 0  # how many batches were written (tests and benches read it)

    async def submit(self, item: Item) -> Result:
        """Queue one item and wait until the batch holding it is written."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._run())
        # A caller that goes away (client disconnect) cancels only its own future; its item
        # stays in the batch, which skips answering it.
        return await future

    async def close(self) -> None:
        """Wait for queued items to be written."""
        if self._flusher is not None:
            await self._flusher

    async def _run(self) -> None:
        if self._linger_s and self._busy:
            await asyncio.sleep(self._linger_s)
        while self._queue:
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            self._busy = len(batch) > 1
            try:
                await self._write(batch)
            except BaseException:  # cancelled mid-flush (shutdown): nobody waits forever
                for _, future in batch:
                    future.cancel()  # (a future already answered stays as it is)
                raise

    async def _write(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        self.flushes += 1
        try:
            results = await self._flush([item for item, _ in batch])
        except Exception as error:
            if len(batch) > 1:
                for one in batch:
                    await self._write([one])
                return
            if not batch[0][1].done():
                batch[0][1].set_exception(error)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


class SingleFlight(Generic[Result]):
    """Concurrent loads of the same key share one call: when a cached value expires or is
    first asked for by many requests at once, the database sees one query, not a stampede."""

    def __init__(self) -> None:
        self._flights: dict[str, asyncio.Future[Result]] = {}

    async def run(self, key: str, load: Callable[[], Awaitable[Result]]) -> Result:
        """`await load()` unless a load of `key` is under way; then wait for that one."""
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(load())
            self._flights[key] = flight
            flight.add_done_callback(lambda _: self._flights.pop(key, None))
        return await asyncio.shield(flight)
