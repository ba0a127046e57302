"""The API's CPU per Telegraf line, in process: `validate_lines` alone, then with the envelopes built and
serialised for the stream (`to_envelopes`, `Envelope.to_entry`), on the ingest benchmark's payload with and
without timestamps. No stores needed; the best of several rounds is printed, in µs per line.

    .venv/bin/python scripts/bench/telegraf_lines.py --metrics 100000 --batch 5000
"""

import argparse
import os
import time

from ingest_metrics import payload_batches

from aiops_api.webhooks.line_protocol import validate_lines
from aiops_api.webhooks.telegraf import to_envelopes

RECEIVED_NS = 1_795_000_000_000_000_000
LINES_PER_EVENT = 1000  # METRICS_LINES_PER_EVENT's default


def validate(bodies: list[bytes]) -> None:
    for body in bodies:
        validate_lines(body, RECEIVED_NS)


def validate_and_serialise(bodies: list[bytes]) -> None:
    for body in bodies:
        for envelope in to_envelopes("bench", validate_lines(body, RECEIVED_NS), LINES_PER_EVENT):
            envelope.to_entry()


def best_us_per_line(step, bodies: list[bytes], lines: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        began = time.process_time()
        step(bodies)
        best = min(best, time.process_time() - began)
    return best / lines * 1e6


def main(args: argparse.Namespace) -> None:
    stamped = payload_batches(args.metrics, args.batch)
    unstamped = [b"\n".join(line.rpartition(b" ")[0] for line in body.split(b"\n")) for body in stamped]
    for name, bodies in (("stamped", stamped), ("unstamped", unstamped)):
        figures = [best_us_per_line(step, bodies, args.metrics, args.rounds) for step in (validate, validate_and_serialise)]
        print(f"{name:<10} validate_lines {figures[0]:.3f} µs/line   + envelopes and entries {figures[1]:.3f} µs/line")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--metrics", type=int, default=100_000, help="lines in all")
    parser.add_argument("--batch", type=int, default=5_000, help="lines per request body")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the fastest counts")
    main(parser.parse_args())
