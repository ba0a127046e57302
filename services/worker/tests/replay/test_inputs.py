"""The replay's inputs: metric points on a real InfluxDB (every numeric field of every series, tags told from fields,
and `limit` bounding the rows read in all: a LIMIT per series would read a row per series past it), and archived
log lines on PostgreSQL counted line by line against the event limit."""

import asyncio
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aiops_contracts import influx as influx_module
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import LOGS_RECEIVED, LogRecord, LogsPayload
from aiops_contracts.influx import InfluxSeries
from aiops_contracts.replay import ReplayParams
from aiops_contracts.streams import LOGS_INGESTED
from aiops_worker.anomalies.series import MetricPoint
from aiops_worker.archive.store import PostgresArchive, pack
from aiops_worker.replay import inputs
from aiops_worker.replay.inputs import ANSWER_CHUNK_ROWS, load_inputs, metric_points
from aiops_worker.runtime.consumer import Delivery
from aiops_worker.runtime.context import WorkerContext

START_S = (int(datetime.now(UTC).timestamp()) // 3600 - 21 * 24) * 3600  # within retention


async def test_points_of_every_series_and_the_limit_counts_rows_in_all(own_influx_ctx: WorkerContext) -> None:
    influx, measurement = own_influx_ctx.influx, f"inputs_{uuid.uuid4().hex[:8]}"
    await influx.ensure_database(own_influx_ctx.settings.influx_retention_days)
    # 40 series (hosts), 3 rows each: a numeric field, an integer one and a string one (not a point).
    await influx.write("\n".join(f'{measurement},host=h{h:02d} load={h + m / 10!r},procs={m}i,state="ok" '
                                 f"{(START_S + 60 * m) * 10**9}" for h in range(40) for m in range(3)))
    window = (datetime.fromtimestamp(START_S, UTC), datetime.fromtimestamp(START_S + 600, UTC))
    every, every_cut = await metric_points(influx, *window, limit=1_000)
    few, few_cut = await metric_points(influx, *window, limit=5)

    mine = [p for p in every if p.series.measurement == measurement]
    assert len(mine) == 240 and not every_cut
    first = next(p for p in mine if p.series.tags == (("host", "h07"),) and p.series.field == "load")
    assert (first.time_ns, first.value) == (START_S * 10**9, 7.0)
    assert {p.series.field for p in mine} == {"load", "procs"}
    assert len(few) == 5 and few_cut


async def test_reading_many_points_leaves_the_event_loop_to_the_other_tasks(
        own_influx_ctx: WorkerContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """20,000 rows of 5 fields and a limit of 20,000 points: the answer (the rows the limit allows) is parsed and
    its points made on a thread, not the loop's (200,000 rows held the loop 4.2-4.8 s), and no more points are
    made than the limit takes."""
    influx, measurement = own_influx_ctx.influx, f"inputs_{uuid.uuid4().hex[:8]}"
    await influx.ensure_database(own_influx_ctx.settings.influx_retention_days)
    await influx.write("\n".join(f"{measurement},host=h{r % 50} a={r},b={r}i,c=0.5,d=1.5,e=2.5 {START_S * 10**9 + r}"
                                 for r in range(20_000)))
    window = (datetime.fromtimestamp(START_S, UTC), datetime.fromtimestamp(START_S + 600, UTC))
    threads: list[int] = []

    def answer_points(*args: Any) -> tuple[list[MetricPoint], int]:
        threads.append(threading.get_ident())
        return real_answer_points(*args)

    real_answer_points = inputs._answer_points
    monkeypatch.setattr(inputs, "_answer_points", answer_points)
    points, cut = await metric_points(influx, *window, limit=20_000)

    assert len(points) == 20_000 and cut
    assert [p.time_ns for p in points[:5]] == [START_S * 10**9] * 5  # the first row's five fields
    assert threads and threading.get_ident() not in threads


async def test_a_large_answer_is_parsed_a_chunk_at_a_time_with_the_loop_running_between(
        own_influx_ctx: WorkerContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """2 x ANSWER_CHUNK_ROWS rows: the answer comes in chunks, each parsed alone, and the event loop runs between
    them. Parsed whole, even on a thread, an answer held the loop throughout (orjson keeps the GIL: 200,000 rows,
    0.35-0.7 s)."""
    influx, measurement = own_influx_ctx.influx, f"inputs_{uuid.uuid4().hex[:8]}"
    await influx.ensure_database(own_influx_ctx.settings.influx_retention_days)
    rows = 2 * ANSWER_CHUNK_ROWS
    await influx.write("\n".join(f"{measurement},host=h{r % 50} a={r},b=0.5 {START_S * 10**9 + r}" for r in range(rows)))
    window = (datetime.fromtimestamp(START_S, UTC), datetime.fromtimestamp(START_S + 600, UTC))
    ticks = 0
    parsed: list[tuple[int, int]] = []  # (rows parsed in one call, loop ticks when it began)

    def parse_answer(answer: bytes) -> list[InfluxSeries]:
        series_list = real_parse_answer(answer)
        if rows_parsed := sum(len(s.values) for s in series_list if "time" in s.columns):  # (not SHOW answers)
            parsed.append((rows_parsed, ticks))
        return series_list

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    real_parse_answer = influx_module.parse_answer
    monkeypatch.setattr(influx_module, "parse_answer", parse_answer)
    ticker = asyncio.create_task(tick())
    try:
        points, cut = await metric_points(influx, *window, limit=10 * rows)
    finally:
        ticker.cancel()

    assert len(points) == 2 * rows and not cut
    assert sum(count for count, _ in parsed) == rows and len(parsed) >= 2
    assert max(count for count, _ in parsed) <= ANSWER_CHUNK_ROWS
    assert parsed[-1][1] > parsed[0][1]  # the loop ran while the answer was being parsed


async def test_the_event_limit_counts_log_lines_not_envelopes(worker_ctx: WorkerContext) -> None:
    """Three envelopes of 1,000 lines each and REPLAY_MAX_EVENTS=2,500: two envelopes are read, not all 3,000
    lines, and the inputs say they were cut."""
    t0 = datetime(2026, 3, 3, tzinfo=UTC)
    archive = PostgresArchive(worker_ctx.sessions)
    for i in range(3):
        payload = LogsPayload(records=[LogRecord(message=f"line {i}-{n}") for n in range(1_000)])
        envelope = Envelope(type=LOGS_RECEIVED, source="syslog", payload=payload.model_dump(mode="json"),
                            time=t0 + timedelta(seconds=i))
        await archive.write(pack(LOGS_INGESTED.name, [Delivery(f"{i}-0", envelope, payload)]))
    settings = worker_ctx.settings.model_copy(update={"replay_max_events": 2_500})
    params = ReplayParams(start=t0, end=t0 + timedelta(minutes=5), metrics=False)
    async with worker_ctx.sessions() as session:
        inputs, truncated = await load_inputs(archive, worker_ctx.influx, session, params, settings)
    assert [len(e.payload["records"]) for e in inputs.logs] == [1_000, 1_000] and truncated
