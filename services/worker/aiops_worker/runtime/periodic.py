"""Periodic work. `PeriodicTask`: a supervisor task that ticks at start, then every `interval_s`, until
stop (forecasting, retention, the heartbeat); a tick that finds a store down is skipped and logged, the
next one tries again. `run_every`: a job inside a stream task (sweeps, clustering), first run after one
interval, since the task's own batches do the work at start; a run that finds a store down, or whose
transaction PostgreSQL rolled back (a deadlock with the task's batches), is logged and the next one tries again.
`beside`: a stream task's consumer with such a job running next to it."""

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ClassVar

from sqlalchemy.exc import DBAPIError

from aiops_contracts.timing import sleep_or_stop
from aiops_worker.runtime.consumer import TRANSIENT_ERRORS

log = logging.getLogger(__name__)


async def run_every(interval_s: float, stop: asyncio.Event, job: Callable[[], Awaitable[None]]) -> None:
    while not await sleep_or_stop(stop, interval_s):
        try:
            await job()
        except (*TRANSIENT_ERRORS, DBAPIError) as exc:
            if isinstance(exc, DBAPIError) and not _rolled_back(exc):
                raise
            log.warning("periodic job skipped, retried next period", extra={"job": getattr(job, "__name__", repr(job)),
                                                                            "error": repr(exc)})


async def beside(consume: Coroutine[Any, Any, None], interval_s: float, stop: asyncio.Event,
                 job: Callable[[], Awaitable[None]]) -> None:
    """`consume` (a stream task's run) with `job` run every `interval_s` next to it, until stop."""
    async with asyncio.TaskGroup() as group:
        group.create_task(consume)
        group.create_task(run_every(interval_s, stop, job))


def _rolled_back(exc: DBAPIError) -> bool:
    """PostgreSQL rolled the transaction back for a reason that may pass (class 40: deadlock, serialization)."""
    return str(getattr(exc.orig, "sqlstate", "")).startswith("40")


class PeriodicTask(ABC):
    name: ClassVar[str]

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s

    @abstractmethod
    async def tick(self, stop: asyncio.Event) -> None:
        """One run; `stop` lets a long one end early."""

    async def stopped(self) -> None:
        """Called once after stop."""

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.tick(stop)
            except TRANSIENT_ERRORS as exc:
                log.warning("periodic run skipped, a store is unavailable", extra={"task": self.name,
                                                                                   "error": repr(exc)})
            await sleep_or_stop(stop, self.interval_s)
        await self.stopped()
