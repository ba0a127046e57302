"""Webhook receivers: one module per source; each router is listed here once."""

from aiops_api.webhooks import alertmanager, generic, logs, sentry, sentry_hooks, telegraf

ROUTERS = [generic.router, telegraf.router, alertmanager.router, sentry.router, sentry_hooks.router, logs.router]
