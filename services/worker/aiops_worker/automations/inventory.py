"""The inventory of a playbook run comes from the fleet: the hosts the platform knows, those with metrics in
InfluxDB (the fleet page's hosts), never a name an alert or a webhook made up. An action's `hosts` globs pick
fleet hosts (scale out over web-*); without them the run targets the event's host, if the fleet has it."""

from fnmatch import fnmatchcase

from aiops_contracts.influx import InfluxClient


async def fleet_hosts(influx: InfluxClient) -> set[str]:
    series = await influx.query('SHOW TAG VALUES WITH KEY = "host"')
    return {str(value) for s in series for _, value in s.values}


def inventory(fleet: set[str], patterns: list[str], target: str) -> list[str]:
    if not patterns:
        return [target] if target in fleet else []
    return sorted(h for h in fleet if any(fnmatchcase(h, p) for p in patterns))
