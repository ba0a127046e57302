"""The kinds of source, one list for both services: the API's webhook receivers (aiops_api/webhooks) and the
worker's pollers (aiops_worker/producers, settings models in aiops_contracts/pollers.py) each serve one kind,
and a source is created for one of them."""

from enum import StrEnum


class SourceKind(StrEnum):
    generic = "generic"
    telegraf = "telegraf"
    sentry = "sentry"
    alertmanager = "alertmanager"
    logs = "logs"
    github_actions = "github_actions"
    jenkins = "jenkins"
    # Polled by the worker (aiops_contracts/pollers.py lists their settings)
    snmp = "snmp"
    redfish = "redfish"
    datadog = "datadog"
    splunk = "splunk"
    thousandeyes = "thousandeyes"
