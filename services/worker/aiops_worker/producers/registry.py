"""The poller of each polled kind, one line each (producers/poller.py says how to add one)."""

from aiops_contracts.sources import SourceKind
from aiops_worker.producers.datadog import DatadogPoller
from aiops_worker.producers.github_actions import GithubActionsPoller
from aiops_worker.producers.jenkins import JenkinsPoller
from aiops_worker.producers.poller import Poller
from aiops_worker.producers.redfish import RedfishPoller
from aiops_worker.producers.snmp import SnmpPoller
from aiops_worker.producers.splunk import SplunkPoller
from aiops_worker.producers.thousandeyes import ThousandEyesPoller

POLLERS: dict[SourceKind, type[Poller]] = {
    SourceKind.snmp: SnmpPoller,
    SourceKind.redfish: RedfishPoller,
    SourceKind.datadog: DatadogPoller,
    SourceKind.splunk: SplunkPoller,
    SourceKind.thousandeyes: ThousandEyesPoller,
    SourceKind.github_actions: GithubActionsPoller,
    SourceKind.jenkins: JenkinsPoller,
}
