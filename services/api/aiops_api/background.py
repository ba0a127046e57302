"""Work an API client starts at startup and no request awaits (warm-ups): a failure is logged when it happens,
not left to the event loop's "exception never retrieved" at exit, and shutdown stops whatever still runs."""

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


def start(work: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
    """`work` as a task; keep it (the loop holds tasks weakly) and stop() it at shutdown."""
    task = asyncio.create_task(work, name=name)
    task.add_done_callback(_log_failure)
    return task


async def stop(task: asyncio.Task[Any] | None) -> None:
    """Cancel `task` if it still runs, and wait until it has ended (its failure, if any, logged already)."""
    if task is not None:
        task.cancel()
        await asyncio.wait([task])


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("background task failed", extra={"task": task.get_name()}, exc_info=error)
