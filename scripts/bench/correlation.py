"""Cross-signal correlation benchmark on a generated scenario (written before any tuning).

N independent faults, each emitting 2-4 signal kinds (log-template burst on the dependency's host, latency
anomaly there, an alert for the dependency with `host:port` / FQDN label variants, an error burst in the
dependent service), with unrelated background alerts, some events delivered late (backfilled in a later
batch). The incident aggregator (in memory, its real code) runs with the topology and correlation, and
as the plain baseline (each key on its own, no correlation). Reports pair-wise precision/recall/F1 of
"same incident" against the truth, "unrelated stay separate" (pairs of faults overlapping in time never
sharing an incident), and noise reduction (events per incident) beside its ceiling (events per true
incident: every background alert is a problem of its own, so no grouping can reduce more than that).
Tuning seeds 0-9; held-out 1000-1009.

    .venv/bin/python scripts/bench/correlation.py [--faults 40] [--volume 1]
    .venv/bin/python scripts/bench/correlation.py --speed [--open 2000]

`--speed` times the aggregation instead (issue 18): signals per second of CPU while `--open` incidents are
open, each signal a new key, so each looks for an incident to correlate with (a third on a host of an open
incident, a third in a service depending on one, a third unrelated).

The committed scenario sends 3-30 lines per log or error burst, so its ceiling is about 5x; `--volume 20`
sends each burst at the rate a real one does (60-600 lines), with the same faults, spans and background.
"""

import argparse
import os
import random
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from aiops_contracts.events import AlertStatus, AlertStoredPayload, LogEvent, Severity, SignalKind
from aiops_worker.incidents.aggregator import Aggregation, Known, Policy
from aiops_worker.incidents.signals import signal_from_alert, signal_from_log

T0 = datetime(2026, 3, 2, tzinfo=UTC)
LOGS = Policy(window=timedelta(seconds=5), reopen=timedelta(hours=1), sample_limit=5, correlate=timedelta(minutes=10))
ALERTS = Policy(window=timedelta(minutes=10), reopen=timedelta(hours=1), sample_limit=5, correlate=timedelta(minutes=10))
TUNING, HELD_OUT = range(10), range(1000, 1010)
TARGET_F1, TARGET_REDUCTION = 0.9, 50  # issue 14


def variant(rng: random.Random, host: str) -> str:
    return rng.choice([host, f"{host}:9100", f"{host}.prod.example.com", f"{host.upper()}.example.org:9187"])


def scenario(seed: int, faults: int, volume: int = 1) -> tuple[list[tuple[float, object, str]], list[tuple[str, str]], list[tuple[float, float]]]:
    """(arrival, signal, truth) per event, declared dependencies, and each fault's span."""
    rng = random.Random(seed)
    deps = [(f"svc-{i}", f"store-{i % (faults // 2 + 1)}") for i in range(faults)]
    events, spans = [], []
    for f, (service, store) in enumerate(deps):
        start, host, app_host = rng.uniform(0, 6 * 3600), f"db-{store}", f"app-{f}"
        kinds = rng.sample(["log", "anomaly", "alertmanager", "sentry"], rng.randint(2, 4))
        end = start
        for kind in kinds:
            onset = start + rng.uniform(0, 120)
            burst = kind in ("log", "sentry")
            for n in range(rng.randint(3, 30) * volume if burst else rng.randint(1, 3)):
                at = onset + n * rng.uniform(1, 4 if kind == "log" else 60) / (volume if burst else 1)
                end = max(end, at)
                late = at + (rng.uniform(300, 900) if rng.random() < 0.1 else 0)
                events.append((late, make(kind, f, n, at, variant(rng, host), app_host, service, store), f"fault-{f}"))
        spans.append((start, end))
    for b in range(faults * 5):  # background: unrelated single alerts
        at = rng.uniform(0, 6 * 3600)
        events.append((at, make("anomaly", 10_000 + b, 0, at, f"bg-{b}", "", "", ""), f"bg-{b}"))
    return sorted(events, key=lambda e: e[0]), deps, spans


def make(kind: str, fault: int, n: int, at: float, host: str, app_host: str, service: str, store: str):
    when, eid = T0 + timedelta(seconds=at), f"{kind}-{fault}-{n}-{uuid.uuid4().hex[:6]}"
    if kind == "log":
        event = LogEvent(event_id=eid, template_id=f"tpl-{fault % 7}", template="fatal <*>", message="fatal",
                         host=host, service=f"db-{store}", severity=Severity.high, occurred_at=when)
        return signal_from_log(event, eid)
    source, signal, where, svc = {
        "anomaly": ("anomaly-detector", SignalKind.anomaly, host, None),
        "alertmanager": ("alertmanager", SignalKind.alert, host, f"db-{store}"),
        "sentry": ("sentry", SignalKind.error, app_host, service)}[kind]
    alert = AlertStoredPayload(alert_id=eid, fingerprint=f"{kind}-{fault}", title=kind, severity=Severity.high,
                               status=AlertStatus.firing, source=source, host=where, service=svc, signal=signal)
    return signal_from_alert(alert, eid, when)


def aggregate(events, deps, correlate: bool) -> list[str]:
    known = Known(latest={})
    for service, store in deps if correlate else ():
        known.topology.add_depends_on(service, f"db-{store}")
    placed: list[str] = []
    for i in range(0, len(events), 50):  # batches in arrival order, each sorted by event time
        batch = sorted(events[i:i + 50], key=lambda e: e[1].at)
        for _, signal, _ in batch:
            policy = LOGS if signal.key.startswith("log:") else ALERTS
            if not correlate:
                policy = Policy(policy.window, policy.reopen, policy.sample_limit)
            placed.append((signal.event_id, str(Aggregation(policy, known).add(signal).id)))
    by_event = dict(placed)
    return [by_event[signal.event_id] for _, signal, _ in events]


def speed(open_incidents: int, signals: int = 1000) -> float:
    """Signals/s of CPU correlating `signals` new keys while `open_incidents` are open (see the docstring)."""
    rng, known = random.Random(0), Known(latest={})
    for i in range(open_incidents):
        known.topology.add_depends_on(f"svc-{i}", f"db-{i}")  # the service of open incident i
    opening = Aggregation(Policy(ALERTS.window, ALERTS.reopen, ALERTS.sample_limit), known)  # each on its own
    for i in range(open_incidents):
        opening.add(make("alertmanager", i, 0, i * 0.1, f"db-{i}", "", "", str(i)))
    batch = []
    for n in range(signals):
        i, kind = rng.randrange(open_incidents), n % 3
        host, service = (f"db-{i}", "") if kind == 0 else (f"app-{n}", f"svc-{i}") if kind == 1 else (f"other-{n}", "")
        event = LogEvent(event_id=f"s-{n}", template_id=f"tpl-{n}", template="fatal <*>", message="fatal", host=host,
                         service=service or None, severity=Severity.high, occurred_at=T0 + timedelta(seconds=60 + n * 0.01))
        batch.append(signal_from_log(event, event.event_id))
    started = time.process_time()
    for b in range(0, signals, 50):
        aggregation = Aggregation(LOGS, known)
        for signal in batch[b:b + 50]:
            aggregation.add(signal)
    return signals / (time.process_time() - started)


def pairs(counts: Counter) -> int:
    return sum(c * (c - 1) // 2 for c in counts.values())


def score(events, spans, predicted: list[str]) -> dict[str, float]:
    truth = [t for _, _, t in events]
    tp = pairs(Counter(zip(predicted, truth))) if predicted else 0
    precision, recall = tp / max(pairs(Counter(predicted)), 1), tp / max(pairs(Counter(truth)), 1)
    incidents_of: dict[str, set[str]] = {}
    for incident, t in zip(predicted, truth):
        incidents_of.setdefault(t, set()).add(incident)
    overlapping = [(a, b) for a in range(len(spans)) for b in range(a + 1, len(spans))
                   if spans[a][0] <= spans[b][1] + 600 and spans[b][0] <= spans[a][1] + 600]
    apart = sum(1 for a, b in overlapping if not incidents_of[f"fault-{a}"] & incidents_of[f"fault-{b}"])
    return {"precision": precision, "recall": recall, "f1": 2 * precision * recall / max(precision + recall, 1e-9),
            "separate": apart / max(len(overlapping), 1), "reduction": len(events) / len(set(predicted)),
            "ceiling": len(events) / len(set(truth))}


def run(seeds, faults: int, volume: int, correlate: bool) -> dict[str, float]:
    totals: Counter = Counter()
    for seed in seeds:
        events, deps, spans = scenario(seed, faults, volume)
        totals.update(score(events, spans, aggregate(events, deps, correlate)))
    return {k: v / len(seeds) for k, v in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", type=int, default=40)
    parser.add_argument("--volume", type=int, default=1,
                        help="events per log/error burst times this, in the same span (1: the committed scenario)")
    parser.add_argument("--speed", action="store_true", help="time the aggregation instead (signals/s of CPU)")
    parser.add_argument("--open", type=int, default=2000, help="with --speed: incidents open")
    args = parser.parse_args()
    if args.speed:
        print(f"{speed(args.open):,.0f} signals/s of CPU with {args.open:,} incidents open (load {os.getloadavg()[0]:.1f})")
        return
    print(f"{'run':28} {'P':>6} {'R':>6} {'F1':>6} {'separate':>9} {'reduction':>10} {'ceiling':>8}")
    for name, seeds, correlate in (("correlation, tuning seeds", TUNING, True), ("correlation, held-out seeds", HELD_OUT, True),
                                   ("baseline (per key), held-out", HELD_OUT, False)):
        r = run(seeds, args.faults, args.volume, correlate)
        print(f"{name:28} {r['precision']:6.3f} {r['recall']:6.3f} {r['f1']:6.3f} {r['separate']:9.3f} {r['reduction']:9.1f}x {r['ceiling']:7.1f}x")
    print(f"target: held-out F1 >= {TARGET_F1}, reduction >= {TARGET_REDUCTION}x (with --volume 20: at --volume 1 the "
          f"ceiling is about 5x); load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
