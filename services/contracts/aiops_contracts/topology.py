"""Names on the topology graph, the same in the API and the worker: host labels arrive as `db-1:9187`,
`DB-1.example.internal` or `db-1`, and all three name the host `db-1`."""

import ipaddress
from datetime import timedelta
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator

RUNS_ON = "runs_on"  # service -> host
DEPENDS_ON = "depends_on"  # service -> service
EDGE_KINDS = (RUNS_ON, DEPENDS_ON)
# Taken first by every writer that moves signals between incidents (the worker's aggregation, a split).
CORRELATION_LOCK = "incidents:correlation"
SPLIT_MEMORY = timedelta(hours=24)  # how long a split key is not merged again with the keys it left
MAX_HOST_NAME = 255  # characters of a host name kept: what the host_name columns hold
MAX_GROUP_KEY = 255  # characters of an incident group key (and of a service name in one) kept: the columns' size
ALERT_KEY_PREFIX = "alert:"


@lru_cache(maxsize=4096)
def host_name(label: str | None) -> str | None:
    """The short, lower-case host name of a host label: port, brackets and domain dropped; an IP address
    is kept whole; cut to MAX_HOST_NAME (str.lower() may lengthen a label: `İ` is two characters lower-cased).
    Remembered: batches name the same few hosts again and again, and telling an IP address from a name
    (a ValueError) costs ~7 µs. Migration 0022 holds a copy (it names the alerts stored before it)."""
    if not label:
        return None
    name = label.strip().lower()
    if name.startswith("["):  # [v6]:port
        name = name[1:].split("]", 1)[0]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    try:
        ipaddress.ip_address(name)
    except ValueError:
        name = name.split(".", 1)[0]
    return name[:MAX_HOST_NAME] or None


def _filter_host_name(label: str | None) -> str | None:
    name = host_name(label)
    if label and name is None:  # `.`, ` `, `:80`: filtering by nothing would find everything
        raise ValueError("not a host name")
    return name


# A filter's host label, held as the host name it names (None when none is given): `?host=DB-1.example.internal`
# finds what is stored under `db-1`; a label that names no host (`.`, ` `, `:80`) is refused.
HostName = Annotated[str | None, AfterValidator(_filter_host_name)]


def service_name(label: str | None) -> str | None:
    return label.strip().lower() or None if label else None


def alert_key(source: str, fingerprint: str, host: str | None, service: str | None) -> str:
    """An alert's incident group key, from its labels: `alert:host:<host>`, else `alert:service:<service>`, else
    `alert:<source>:<fingerprint>` (the worker's aggregator groups alerts by it; a split in the API moves the
    alerts of the key it splits out)."""
    if host_part := host_name(host):
        where = f"host:{host_part}"
    elif service_part := service_name(service):
        where = f"service:{service_part[:MAX_GROUP_KEY]}"
    else:
        where = f"{source}:{fingerprint}"
    return f"{ALERT_KEY_PREFIX}{where}"[:MAX_GROUP_KEY]
