"""The kinds of source, one list for both services: the API's webhook receivers (aiops_api/webhooks) and, to
come, the worker's pollers each serve one kind, and a source (its credential) is created for one of them."""

from enum import StrEnum


class SourceKind(StrEnum):
    generic = "generic"
    telegraf = "telegraf"
    sentry = "sentry"
    alertmanager = "alertmanager"
    logs = "logs"
