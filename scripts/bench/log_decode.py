#!/usr/bin/env python3
"""CPU µs per log line of decoding `logs.received` stream entries as a consumer does (Envelope.from_entry,
then LogsPayload.model_validate), on envelopes built the way each producer builds them: the logs webhook
(request labels once per envelope), the file tail (its path label), syslog (labels on every record, all
fields dumped), pollers (host and time per record) and log_pipeline.py's own (all fields dumped, no labels).

Usage: ``python scripts/bench/log_decode.py [--data DIR] [--lines N] [--repeat R] [--profile]``

No store is needed. Lines are the raw Loghub-2k files under DIR (default ../shared/bench-data/loghub),
interleaved. Each figure is the best of R runs (the least disturbed on a shared machine), beside the load average.
"""

import argparse
import cProfile
import os
import pstats
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for package in ("contracts", "worker"):
    sys.path.insert(0, str(ROOT / "services" / package))

import orjson  # noqa: E402
from log_pipeline import DEFAULT_DATA, load_lines  # noqa: E402

from aiops_contracts.envelope import ENTRY_FIELD, Envelope  # noqa: E402
from aiops_contracts.events import LOGS_RECEIVED, LogRecord, LogsPayload  # noqa: E402
from aiops_contracts.heap import freeze_heap  # noqa: E402

PER_ENVELOPE = 500  # the webhook's RECORDS_PER_ENVELOPE and the producers' default envelope size


def _webhook(lines: list[str]) -> dict:
    labels = {"host": "web-1", "service": "checkout", "env": "prod"}
    return LogsPayload(records=[LogRecord(message=m) for m in lines], labels=labels).model_dump(
        mode="json", exclude_defaults=True)


def _file_tail(lines: list[str]) -> dict:
    return LogsPayload(labels={"path": "/var/log/app/server.log"},
                       records=[LogRecord(message=m) for m in lines]).model_dump(mode="json", exclude_defaults=True)


def _syslog(lines: list[str]) -> dict:
    labels = {"transport": "udp", "peer": "10.0.0.7", "level": "err"}
    return LogsPayload(records=[LogRecord(message=m, labels=labels) for m in lines]).model_dump(mode="json")


def _poller(lines: list[str]) -> dict:
    start = datetime(2026, 11, 30, tzinfo=UTC)
    records = [LogRecord(message=m, host=f"host-{i % 7}", timestamp=start + timedelta(milliseconds=i))
               for i, m in enumerate(lines)]
    return LogsPayload(records=records, labels={"team": "payments"}).model_dump(mode="json", exclude_defaults=True)


def _bench(lines: list[str]) -> dict:
    return LogsPayload(records=[LogRecord(message=m) for m in lines]).model_dump(mode="json")


PRODUCERS: dict[str, Callable[[list[str]], dict]] = {
    "webhook": _webhook, "file_tail": _file_tail, "syslog": _syslog, "poller": _poller, "log_pipeline": _bench}


def entries_of(lines: list[str], build: Callable[[list[str]], dict]) -> list[dict[bytes, bytes]]:
    return [Envelope(type=LOGS_RECEIVED, source="bench", payload=build(lines[i:i + PER_ENVELOPE])).to_entry()
            for i in range(0, len(lines), PER_ENVELOPE)]


def decode(entries: list[dict[bytes, bytes]]) -> None:
    for fields in entries:
        LogsPayload.model_validate(Envelope.from_entry(fields).payload)


def each(step: Callable[[object], object], items: list) -> None:
    """The step on every item, each result dropped as the consumer drops a batch (not kept for the collector)."""
    for item in items:
        step(item)


def best_us_per_line(step: Callable[[], object], lines: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        step()
        best = min(best, time.process_time() - started)
    return best / lines * 1e6


def parts(entries: list[dict[bytes, bytes]], lines: int, repeat: int) -> list[float]:
    """µs per line of the whole decoding, then of its parts: JSON, the envelope's model, the payload's."""
    raw = [fields[ENTRY_FIELD] for fields in entries]
    parsed = [orjson.loads(r) for r in raw]
    payloads = [Envelope.model_validate(p).payload for p in parsed]
    return [best_us_per_line(step, lines, repeat) for step in (
        lambda: decode(entries), lambda: each(orjson.loads, raw), lambda: each(Envelope.model_validate, parsed),
        lambda: each(LogsPayload.model_validate, payloads))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="cProfile the webhook's entries, top 15")
    args = parser.parse_args()
    lines = load_lines(args.data, args.lines, set())
    freeze_heap()  # as the worker, once started
    print(f"{len(lines):,} lines, {PER_ENVELOPE} per envelope, load average {os.getloadavg()[0]:.1f}")
    print(f"{'producer':<14}{'decode':>10}{'JSON':>9}{'envelope':>10}{'payload':>9}  µs per line (CPU, best of {args.repeat})")
    for name, build in PRODUCERS.items():
        figures = parts(entries_of(lines, build), len(lines), args.repeat)
        print(f"{name:<14}" + "".join(f"{f:>{w}.2f}" for f, w in zip(figures, (10, 9, 10, 9), strict=True)))
    print(f"load average {os.getloadavg()[0]:.1f}")
    if args.profile:
        entries = entries_of(lines, _webhook)
        with cProfile.Profile() as profile:
            decode(entries)
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
