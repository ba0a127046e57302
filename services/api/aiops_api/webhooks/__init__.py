"""Webhook receivers: one module per source, each with its `router` and the `KIND` of source it takes, listed
here once. A new kind is added to aiops_contracts.sources.SourceKind; tests/webhooks/test_registry.py checks
that every kind has a receiver or a poller (aiops_contracts.pollers.is_poller), and every pushed kind its
snippets."""

from aiops_api.webhooks import alertmanager, generic, github, logs, redfish, sentry, sentry_hooks, telegraf

WEBHOOKS = [generic, telegraf, alertmanager, sentry, sentry_hooks, logs, github, redfish]
ROUTERS = [webhook.router for webhook in WEBHOOKS]
