"""Synthetic log lines with ground-truth event ids, for the classes that broke mining on unseen logs.

Every vocabulary here is made up (no real product, host or message), and the lines come from a seeded
generator, so a test on them says whether the miner handles a *class* of variation, not one data set:

* ``closed_sets``: a slot holding one of a handful of words is part of the event (request verbs,
  lifecycle states, on/off), while a slot of lowercase names (users, queues) is a variable.
* ``hosts``: host names, FQDNs with any top-level domain, host:port, URLs, dotted service names and
  dotted property keys are variables, wherever they stand in the line.
* ``variable_length``: one field spanning a varying number of tokens (an optional parenthesised
  size, a value of several words, a list) stays one event.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Iterator

SEED = 20240517
Event = tuple[str, str]  # (event id, line)

_VERBS = ("FETCH", "STORE", "PURGE", "RENAME")
_STATES = ("Launched", "Frozen", "Thawed", "Halted")
_USERS = ("mira", "tobin", "quill", "yara", "odel", "pim", "sal", "vex")
_QUEUES = ("intake", "refunds", "ledger_sync", "mailer", "thumbs", "audit")
_LABELS = ("alpha", "borel", "cantor", "delta", "euler", "fermi", "gauss", "hilb", "ising", "jordan")
_TLDS = ("de", "jp", "br", "it", "uk", "com", "net", "org", "edu", "io", "nl", "se")
_PROGRAMS = ("viewer.bin", "Syncer.bin", "mailtool.bin", "Fetcher.bin", "updater.bin")
_PROPERTY_KEYS = ("vm.vendor", "vm.home", "os.arch", "user.dir", "app.class.path", "net.proxy.port", "io.tmpdir")
_WORDS = ("Acme", "Corporation", "Standard", "Edition", "amd64", "generic", "Runtime", "Server")


def _host(rng: random.Random) -> str:
    labels = rng.sample(_LABELS, rng.randint(1, 3))
    if rng.random() < 0.4:
        labels[0] = f"{labels[0]}-{rng.randint(1, 250)}-{rng.randint(1, 250)}"
    return ".".join(labels + [rng.choice(_TLDS)])


def _closed_sets(rng: random.Random) -> Iterator[Event]:
    for _ in range(600):
        kind = rng.random()
        if kind < 0.35:
            verb = rng.choices(_VERBS, weights=(20, 6, 2, 1))[0]
            yield (f"req-{verb}", f'10.0.{rng.randint(0, 9)}.{rng.randint(1, 254)} "{verb} /v{rng.randint(1, 3)}/'
                   f'{rng.getrandbits(64):016x}/items HTTP/1.1" status: {rng.choice((200, 204, 404))} '
                   f"len: {rng.randint(100, 9999)} time: {rng.random():.7f}")
        elif kind < 0.6:
            state = rng.choice(_STATES)
            yield (f"unit-{state}", f"[unit: {rng.getrandbits(128):032x}] Unit {state} (State Change)")
        elif kind < 0.75:
            switch = rng.choice(("on", "off"))
            yield (f"switch-{switch}", f"relay {rng.randint(1, 64)} turned {switch} by scheduler")
        elif kind < 0.9:
            yield ("session-user", f"session opened for user {rng.choice(_USERS)} by (uid={rng.randint(0, 999)})")
        else:
            yield ("queue-drained", f"worker drained queue {rng.choice(_QUEUES)} in {rng.randint(1, 900)} ms")


def _hosts(rng: random.Random) -> Iterator[Event]:
    for _ in range(600):
        kind = rng.random()
        host, port = _host(rng), rng.choice((80, 443, 5070, 8080, 9000))
        if kind < 0.3:
            yield ("proxy-open", f"{rng.choice(_PROGRAMS)} - {host}:{port} open through proxy "
                   f"{_host(rng)}:{rng.choice((5070, 3128))} HTTPS")
        elif kind < 0.5:
            yield ("reverse-map", f"reverse mapping checking getaddrinfo for {host} "
                   f"[{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}]"
                   " failed - POSSIBLE BREAK-IN ATTEMPT!")
        elif kind < 0.65:
            yield ("fetch-url", f"fetching https://{host}/{rng.choice(_LABELS)}/{rng.randint(1, 99)}"
                   f" for job {rng.randint(1, 9999)}")
        elif kind < 0.8:
            service = ".".join(rng.sample(_LABELS, rng.randint(2, 4)))
            yield ("service-up", f"service {service} registered on {host}")
        else:
            key = rng.choice(_PROPERTY_KEYS)
            yield ("property", f"Agent setting:{key}={rng.choice(_WORDS).lower()}{rng.randint(1, 9)}")


def _size(rng: random.Random, direction: str) -> str:
    n = rng.randint(10, 99999)
    if n > 1024 and rng.random() < 0.8:
        return f"{n} bytes ({n / 1024:.2f} KB) {direction}"
    return f"{n} bytes {direction}"


def _variable_length(rng: random.Random) -> Iterator[Event]:
    for _ in range(600):
        kind = rng.random()
        if kind < 0.45:
            yield ("conn-close", f"{rng.choice(_PROGRAMS)} - {_host(rng)}:443 close, {_size(rng, 'sent')}, "
                   f"{_size(rng, 'received')}, lifetime {rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}")
        elif kind < 0.75:
            value = " ".join(rng.sample(_WORDS, rng.randint(1, 3)))
            yield ("env-property", f"Agent environment:{rng.choice(_PROPERTY_KEYS)}={value}")
        else:
            ids = " ".join(f"chunk_{rng.getrandbits(40)}" for _ in range(rng.randint(1, 5)))
            yield ("chunk-delete", f"ask {rng.randint(1, 9)}.0.0.{rng.randint(1, 9)}:50010 to delete {ids}")


CLASSES: dict[str, Callable[[random.Random], Iterator[Event]]] = {
    "closed_sets": _closed_sets, "hosts": _hosts, "variable_length": _variable_length}


def generate(name: str, seed: int = SEED) -> tuple[list[str], list[str]]:
    """(lines, event ids) of one class, line-aligned, the same on every run."""
    events = list(CLASSES[name](random.Random(f"{seed}:{name}")))
    return [line for _, line in events], [event for event, _ in events]


def grouping_accuracy(predicted: list[str], truth: list[str]) -> float:
    """Share of lines whose predicted group holds exactly the lines of their true event (logpai's GA)."""
    members: dict[str, set[int]] = defaultdict(set)
    events: dict[str, set[int]] = defaultdict(set)
    for index, (group, event) in enumerate(zip(predicted, truth)):
        members[group].add(index)
        events[event].add(index)
    return sum(1 for group, event in zip(predicted, truth) if members[group] == events[event]) / len(truth)
