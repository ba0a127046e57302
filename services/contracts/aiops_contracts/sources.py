"""The kinds of source, one list for both services: the API's webhook receivers (aiops_api/webhooks) and the
worker's pollers (aiops_worker/producers, settings models in aiops_contracts/pollers.py) each serve one kind,
and a source is created for one of them."""

from enum import StrEnum

from aiops_contracts.events import ANOMALY_SOURCE, FORECAST_SOURCE
from aiops_contracts.pipelines import PIPELINES_SOURCE

# The sources the worker's own alerts carry. Their name is what automations (anomaly and prediction triggers), the
# pipelines page and the chat trust them by, so no source may take one (compared without case): its token holder
# could post alerts passing for the worker's.
RESERVED_SOURCE_NAMES = frozenset({ANOMALY_SOURCE, FORECAST_SOURCE, PIPELINES_SOURCE})


def is_reserved_source_name(name: str) -> bool:
    """Whether a source may not hold `name` (RESERVED_SOURCE_NAMES, compared without case): the API refuses it, and a
    source stored under it before (the migrations rename those) neither authenticates nor is polled."""
    return name.lower() in RESERVED_SOURCE_NAMES


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
