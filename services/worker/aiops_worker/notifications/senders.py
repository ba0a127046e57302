"""Sending one grouped notification: Slack incoming webhook, generic webhook (JSON, like Alertmanager's), email
over SMTP, or PagerDuty Events API v2 (one PagerDuty incident per group, its dedup_key). Every call has a
timeout and a few retries with back-off; a receiver failing again and again is skipped for a while (circuit
breaker) instead of holding every group. URLs are checked before each call (outbound/urls.py)."""

import asyncio
import hashlib
import logging
import re
import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import httpx

from aiops_contracts.events import IncidentStatus, Severity
from aiops_contracts.outbound import redacted
from aiops_worker.notifications.routing import Receiver
from aiops_worker.outbound.urls import UnsafeUrl, check_url, outbound_client
from aiops_worker.settings import WorkerSettings

log = logging.getLogger(__name__)
RETRIES = 3
BREAKER_FAILURES = 5  # consecutive failed notifications that open a receiver's circuit
BREAKER_OPEN_S = 60.0
SEVERITY_RANK = [Severity.info, Severity.low, Severity.medium, Severity.high, Severity.critical]
PAGERDUTY_SEVERITY = {Severity.critical: "critical", Severity.high: "error", Severity.medium: "warning",
                      Severity.low: "warning", Severity.info: "info"}
# Line breaks and other control characters: a subject is one line (an email header refuses a line break).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


class ReceiverUnavailable(Exception):
    """The receiver's circuit is open or the call failed after its retries."""


@dataclass(frozen=True)
class Notice:
    """One group's notification: the incidents it tells (IncidentChangedPayload as JSON), worst first."""

    receiver: str
    group_key: str
    incidents: list[dict[str, Any]]

    @property
    def firing(self) -> list[dict[str, Any]]:
        return [i for i in self.incidents if i["status"] != IncidentStatus.resolved]

    @property
    def status(self) -> str:
        return "firing" if self.firing else "resolved"

    @property
    def subject(self) -> str:
        return self.heading(str)

    def heading(self, shown: Callable[[str], str]) -> str:
        """The subject, each value from the incidents passed through `shown` (for Slack: slack_escaped)."""
        worst = self.incidents[0]
        count = len(self.firing) or len(self.incidents)
        more = f" (+{len(self.incidents) - 1} more)" if len(self.incidents) > 1 else ""
        return _CONTROL.sub(" ", f"[{self.status.upper()}:{count}] {shown(worst['severity'])}:"
                                 f" {shown(worst['title'])}{more}")

    def lines(self, shown: Callable[[str], str] = str) -> list[str]:
        return [f"- [{shown(i['status'])}] {shown(i['severity'])}: {shown(i['title'])}"
                f" ({shown(', '.join(i['hosts'][:3] or i['services'][:3]) or 'fleet')})"
                f" events {i['event_count']}, incident {shown(i['incident_id'])}" for i in self.incidents]


def slack_escaped(value: str) -> str:
    """Slack's escaping of text (https://api.slack.com/reference/surfaces/formatting#escaping): an alert's title
    or host is shown as written, its `<!channel>` is no channel-wide ping and its `<https://…|label>` no link."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def notice(receiver: str, group_key: str, incidents: list[dict[str, Any]]) -> Notice:
    ordered = sorted(incidents, key=lambda i: (i["status"] == IncidentStatus.resolved,
                                               -SEVERITY_RANK.index(Severity(i["severity"])), i["title"]))
    return Notice(receiver=receiver, group_key=group_key, incidents=ordered)


@dataclass
class Sender:
    settings: WorkerSettings
    failures: dict[str, int] = field(default_factory=dict)
    open_until: dict[str, float] = field(default_factory=dict)

    async def send(self, receiver: Receiver, message: Notice) -> None:
        if self.open_until.get(receiver.name, 0.0) > time.monotonic():
            raise ReceiverUnavailable(f"receiver {receiver.name}: circuit open after repeated failures")
        try:
            await self._with_retries(receiver, message)
        except UnsafeUrl as exc:  # refused before any call: no retry would change that
            raise ReceiverUnavailable(f"receiver {receiver.name}: {exc}") from exc
        except ValueError as exc:  # a message the receiver's client refuses to build: failed, the other groups go on
            log.exception("notification not built", extra={"receiver": receiver.name})
            raise ReceiverUnavailable(f"receiver {receiver.name}: {exc!r}") from exc
        except (httpx.HTTPError, OSError, smtplib.SMTPException) as exc:
            self.failures[receiver.name] = self.failures.get(receiver.name, 0) + 1
            if self.failures[receiver.name] >= BREAKER_FAILURES:
                self.open_until[receiver.name] = time.monotonic() + BREAKER_OPEN_S
            raise ReceiverUnavailable(f"receiver {receiver.name}: {_reason(exc)}") from exc
        self.failures[receiver.name] = 0

    async def _with_retries(self, receiver: Receiver, message: Notice) -> None:
        for attempt in range(RETRIES):
            try:
                return await self._send_once(receiver, message)
            except (httpx.HTTPError, OSError, smtplib.SMTPException):
                if attempt == RETRIES - 1:
                    raise
                await asyncio.sleep(0.2 * 2**attempt)

    async def _send_once(self, receiver: Receiver, message: Notice) -> None:
        if receiver.kind == "email":
            return await asyncio.to_thread(self._mail, receiver, message)
        url = await check_url(receiver.url or "", self.settings.outbound_allowed_hosts)
        async with outbound_client(self.settings.outbound_allowed_hosts,
                                   timeout=self.settings.notification_timeout_s) as client:
            (await client.post(url, json=self._body(receiver, message))).raise_for_status()

    def _body(self, receiver: Receiver, message: Notice) -> dict[str, Any]:
        if receiver.kind == "slack":
            return {"text": "\n".join([message.heading(slack_escaped), *message.lines(slack_escaped)])}
        if receiver.kind == "pagerduty":  # Events API v2: one PagerDuty incident per group (dedup_key)
            key = self.settings.pagerduty_routing_keys.get(receiver.name)
            worst = message.incidents[0]
            return {"routing_key": key.get_secret_value() if key else "",
                    "dedup_key": hashlib.sha256(f"{receiver.name}|{message.group_key}".encode()).hexdigest(),
                    "event_action": "trigger" if message.firing else "resolve",
                    "payload": {"summary": message.subject[:1024], "source": ", ".join(worst["hosts"]) or "aiops",
                                "severity": PAGERDUTY_SEVERITY[Severity(worst["severity"])],
                                "custom_details": {"incidents": message.lines()}}}
        return {"receiver": message.receiver, "status": message.status, "group_key": message.group_key,
                "subject": message.subject, "incidents": message.incidents}

    def _mail(self, receiver: Receiver, message: Notice) -> None:
        mail = EmailMessage()
        mail["Subject"], mail["From"], mail["To"] = message.subject, self.settings.smtp_from, ", ".join(receiver.to)
        mail.set_content("\n".join([message.subject, "", *message.lines()]) + "\n")
        with smtplib.SMTP(self.settings.smtp_host, self.settings.smtp_port,
                          timeout=self.settings.notification_timeout_s) as smtp:
            if self.settings.smtp_username:
                smtp.starttls()
                smtp.login(self.settings.smtp_username, self.settings.smtp_password.get_secret_value())
            smtp.send_message(mail)


def _reason(exc: Exception) -> str:
    """What went wrong, naming the URL's scheme and host only (a webhook URL's path is its secret)."""
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code} from {redacted(str(exc.request.url))}"
    if isinstance(exc, httpx.RequestError):
        return f"{type(exc).__name__} calling {redacted(str(exc.request.url))}"
    return repr(exc)
