"""The SNMP objects the poller reads and the trap receiver names, by numeric OID (no MIB files are loaded), and
counter rates: per-second rates from successive counter readings, timed by the agent's own sysUpTime."""

from collections.abc import Hashable

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
SNMP_TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"

# IF-MIB ifTable / ifXTable columns: field name -> column OID.
IF_COLUMNS = {
    "descr": "1.3.6.1.2.1.2.2.1.2",
    "oper_status": "1.3.6.1.2.1.2.2.1.8",
    "in_octets": "1.3.6.1.2.1.2.2.1.10",
    "in_discards": "1.3.6.1.2.1.2.2.1.13",
    "in_errors": "1.3.6.1.2.1.2.2.1.14",
    "out_octets": "1.3.6.1.2.1.2.2.1.16",
    "out_discards": "1.3.6.1.2.1.2.2.1.19",
    "out_errors": "1.3.6.1.2.1.2.2.1.20",
    "name": "1.3.6.1.2.1.31.1.1.1.1",
    "hc_in_octets": "1.3.6.1.2.1.31.1.1.1.6",
    "hc_out_octets": "1.3.6.1.2.1.31.1.1.1.10",
}
# HOST-RESOURCES-MIB hrStorageTable and hrProcessorTable columns.
HR_COLUMNS = {
    "storage_descr": "1.3.6.1.2.1.25.2.3.1.3",
    "storage_units": "1.3.6.1.2.1.25.2.3.1.4",
    "storage_size": "1.3.6.1.2.1.25.2.3.1.5",
    "storage_used": "1.3.6.1.2.1.25.2.3.1.6",
    "processor_load": "1.3.6.1.2.1.25.3.3.1.2",
}

# Names of the OIDs above and of the generic traps (SNMPv2-MIB snmpTraps, IF-MIB), for trap events.
NAMES = {
    SYS_UPTIME: "sysUpTime",
    SYS_NAME: "sysName",
    SNMP_TRAP_OID: "snmpTrapOID",
    "1.3.6.1.6.3.1.1.5.1": "coldStart",
    "1.3.6.1.6.3.1.1.5.2": "warmStart",
    "1.3.6.1.6.3.1.1.5.3": "linkDown",
    "1.3.6.1.6.3.1.1.5.4": "linkUp",
    "1.3.6.1.6.3.1.1.5.5": "authenticationFailure",
    "1.3.6.1.2.1.2.2.1.1": "ifIndex",
    "1.3.6.1.2.1.2.2.1.7": "ifAdminStatus",
    **{oid: f"if.{field}" for field, oid in IF_COLUMNS.items()},
    **{oid: f"hr.{field}" for field, oid in HR_COLUMNS.items()},
}


def oid_name(oid: str) -> str:
    """The name of `oid` or of its nearest named parent plus the rest (`ifOperStatus.3` style), else the OID."""
    parts = oid.split(".")
    for end in range(len(parts), 0, -1):
        name = NAMES.get(".".join(parts[:end]))
        if name:
            rest = ".".join(parts[end:])
            return f"{name}.{rest}" if rest else name
    return oid


class CounterRates:
    """Per-second rates of counters between two polls, timed by the agent's sysUpTime (seconds).

    A 32-bit counter lower than before wrapped (2**32 is added); a 64-bit one lower than before was reset
    (no rate: it cannot wrap in a poll interval). The agent's uptime going back means it restarted: every
    counter starts over, so no rate until the next poll.
    """

    def __init__(self) -> None:
        self._last: dict[Hashable, tuple[int, float]] = {}
        self._uptime_s: float | None = None

    def observe_uptime(self, uptime_s: float) -> bool:
        """Record this poll's uptime; False (and every counter forgotten) when the agent restarted."""
        restarted = self._uptime_s is not None and uptime_s < self._uptime_s
        if restarted:
            self._last.clear()
        self._uptime_s = uptime_s
        return not restarted

    def rate(self, key: Hashable, value: int, bits: int, uptime_s: float) -> float | None:
        previous = self._last.get(key)
        self._last[key] = (value, uptime_s)
        if previous is None or uptime_s <= previous[1]:
            return None
        delta = value - previous[0]
        if delta < 0:
            if bits != 32:
                return None
            delta += 2**32
        return delta / (uptime_s - previous[1])
