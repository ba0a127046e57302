"""Ready-to-paste configuration for a source, per kind: what the sending tool needs to reach this API
(PUBLIC_URL) with the source's token. The token is shown once, at creation; afterwards the snippets
carry the placeholder `<token>` in its place. The forms match docs/ingestion.md.
"""

import json
from urllib.parse import urlsplit

from aiops_api.sources.schemas import Snippet, SourceSnippets
from aiops_contracts.sources import SourceKind

TOKEN_PLACEHOLDER = "<token>"
# Any id works: Sentry's SDKs want a number, and alerts are grouped per project id.
SENTRY_PROJECT_ID = "1"
# The receiving endpoint of each kind (the Sentry SDKs derive theirs from the DSN).
ENDPOINTS: dict[SourceKind, str] = {
    SourceKind.generic: "/webhooks/generic",
    SourceKind.logs: "/webhooks/logs",
    SourceKind.telegraf: "/webhooks/telegraf",
    SourceKind.alertmanager: "/webhooks/alertmanager",
    SourceKind.sentry: f"/api/{SENTRY_PROJECT_ID}/envelope/",
}


def source_snippets(kind: SourceKind, public_url: str, token: str | None = None) -> SourceSnippets:
    """The snippets of a `kind` source; `token` None writes the placeholder."""
    secret = token or TOKEN_PLACEHOLDER
    url = public_url + ENDPOINTS[kind]
    return SourceSnippets(kind=kind, url=url, token_included=token is not None,
                          items=_BUILDERS[kind](url, public_url, secret))


def _telegraf(url: str, _: str, token: str) -> list[Snippet]:
    toml = (
        "[[outputs.http]]\n"
        f"  url = {json.dumps(url)}\n"
        '  method = "POST"\n'
        '  data_format = "influx"\n'
        '  content_encoding = "gzip"\n'
        "  [outputs.http.headers]\n"
        f"    X-AIOps-Token = {json.dumps(token)}\n"
    )
    return [Snippet(name="telegraf", title="Telegraf outputs.http (telegraf.conf)", language="toml", content=toml)]


def _sentry(_: str, public_url: str, token: str) -> list[Snippet]:
    base = urlsplit(public_url)
    dsn = f"{base.scheme}://{token}@{base.netloc}{base.path}/{SENTRY_PROJECT_ID}"
    init = f'sentry_sdk.init(dsn="{dsn}")\n'
    return [Snippet(name="sentry_dsn", title="Sentry DSN", language="text", content=dsn),
            Snippet(name="sentry_python", title="Sentry SDK (Python)", language="python", content=init)]


def _alertmanager(url: str, _: str, token: str) -> list[Snippet]:
    yaml = (
        "receivers:\n"
        "  - name: aiops\n"
        "    webhook_configs:\n"
        f"      - url: {json.dumps(url)}\n"
        "        send_resolved: true\n"
        "        http_config:\n"
        "          authorization:\n"
        "            type: Bearer\n"
        f"            credentials: {json.dumps(token)}\n"
    )
    return [Snippet(name="alertmanager", title="Alertmanager receiver (alertmanager.yml)", language="yaml",
                    content=yaml)]


def _generic(url: str, _: str, token: str) -> list[Snippet]:
    alert = {"title": "Disk almost full", "severity": "high", "host": "web-1", "service": "nginx"}
    return [Snippet(name="curl", title="Send an alert with curl", language="shell",
                    content=_curl(url, token, "application/json", f"--data-binary '{json.dumps(alert)}'"))]


def _logs(url: str, _: str, token: str) -> list[Snippet]:
    lines = "Jan 12 10:00:01 web-1 nginx[42]: upstream timed out\\nJan 12 10:00:02 web-1 nginx[42]: retrying"
    return [Snippet(name="curl", title="Send log lines with curl", language="shell",
                    content=_curl(f"{url}?host=web-1&service=nginx", token, "text/plain", f"--data-binary $'{lines}'"))]


def _curl(url: str, token: str, content_type: str, data: str) -> str:
    return (f"curl -X POST '{url}' \\\n"
            f"  -H 'X-AIOps-Token: {token}' \\\n"
            f"  -H 'Content-Type: {content_type}' \\\n"
            f"  {data}\n")


_BUILDERS = {SourceKind.telegraf: _telegraf, SourceKind.sentry: _sentry, SourceKind.alertmanager: _alertmanager,
             SourceKind.generic: _generic, SourceKind.logs: _logs}
