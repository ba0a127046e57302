"""The inventory of a playbook run: hosts of the fleet (those with metrics in InfluxDB, the fleet page's
hosts) that the admin allows (`automations_hosts` globs), each a well-formed host name. Anyone holding a
metrics token can add a host to the fleet, and an alert can name any host: neither alone puts a host in an
inventory, only the admin's list does. An action's `hosts` globs pick among those hosts (scale out over web-*);
without them the run targets the event's host, if it is one of them."""

from fnmatch import fnmatchcase

from aiops_contracts.automations import HOST_NAME
from aiops_contracts.influx import InfluxClient


async def fleet_hosts(influx: InfluxClient) -> set[str]:
    series = await influx.query('SHOW TAG VALUES WITH KEY = "host"')
    return {str(value) for s in series for _, value in s.values}


def inventory(fleet: set[str], allowed: list[str], patterns: list[str], target: str) -> list[str]:
    """Fleet hosts the admin allows, well-formed, and picked by the action's `patterns` (else the target)."""
    runnable = {h for h in fleet if HOST_NAME.fullmatch(h) and any(fnmatchcase(h, a) for a in allowed)}
    if not patterns:
        return [target] if target in runnable else []
    return sorted(h for h in runnable if any(fnmatchcase(h, p) for p in patterns))
