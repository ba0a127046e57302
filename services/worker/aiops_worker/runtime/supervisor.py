"""Runs each task as its own asyncio task and restarts it with back-off when it crashes."""

import asyncio
import logging
from typing import Protocol

from aiops_contracts.timing import Backoff, sleep_or_stop
from aiops_worker.runtime import instrumentation

log = logging.getLogger(__name__)

INITIAL_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0
# A task that ran this long before crashing is considered healthy: its back-off starts over.
HEALTHY_RUN_S = 60.0


class Task(Protocol):
    name: str

    async def run(self, stop: asyncio.Event) -> None: ...


class Supervisor:
    def __init__(self, tasks: list[Task], stop: asyncio.Event, grace_s: float) -> None:
        self.tasks = tasks
        self.stop = stop
        self.grace_s = grace_s

    async def run(self) -> None:
        """Run every task until `stop` is set, then give them `grace_s` to finish their batch."""
        running = [asyncio.create_task(self._keep_running(t), name=t.name) for t in self.tasks]
        await self.stop.wait()
        _, still_running = await asyncio.wait(running, timeout=self.grace_s)
        for task in still_running:
            task.cancel()
        await asyncio.gather(*still_running, return_exceptions=True)
        log.info("worker stopped", extra={"cancelled": [t.get_name() for t in still_running]})

    async def _keep_running(self, task: Task) -> None:
        loop = asyncio.get_running_loop()
        backoff = Backoff(INITIAL_BACKOFF_S, MAX_BACKOFF_S)
        while not self.stop.is_set():
            started = loop.time()
            try:
                await task.run(self.stop)
            except Exception:
                instrumentation.TASK_RESTARTS.labels(task.name).inc()
                log.exception("task crashed", extra={"task": task.name, "restart_in_s": backoff.delay})
            else:
                if self.stop.is_set():
                    return
                log.warning("task returned, restarting", extra={"task": task.name})
            if loop.time() - started >= HEALTHY_RUN_S:
                backoff.reset()
            await sleep_or_stop(self.stop, backoff.next())
