"""The poller of each polled kind, one line each (producers/poller.py says how to add one)."""

from aiops_contracts.sources import SourceKind
from aiops_worker.producers.poller import Poller
from aiops_worker.producers.redfish import RedfishPoller
from aiops_worker.producers.snmp import SnmpPoller

POLLERS: dict[SourceKind, type[Poller]] = {
    SourceKind.snmp: SnmpPoller,
    SourceKind.redfish: RedfishPoller,
}
