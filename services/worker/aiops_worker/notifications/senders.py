"""Sending one notification: Slack incoming webhook, generic webhook (JSON), or email over SMTP. Every call has
a timeout and a few retries with back-off; a receiver failing again and again is skipped for a while (circuit
breaker) instead of holding every batch. URLs are checked before each call (outbound/urls.py)."""

import asyncio
import smtplib
import time
from dataclasses import dataclass, field
from email.message import EmailMessage

import httpx

from aiops_contracts.events import IncidentChangedPayload, IncidentStatus, Severity
from aiops_worker.notifications.routing import Receiver
from aiops_worker.outbound.urls import check_url
from aiops_worker.settings import WorkerSettings

RETRIES = 3
BREAKER_FAILURES = 5  # consecutive failed notifications that open a receiver's circuit
BREAKER_OPEN_S = 60.0
PAGERDUTY_ACTIONS = {IncidentStatus.open: "trigger", IncidentStatus.acknowledged: "acknowledge",
                     IncidentStatus.resolved: "resolve"}
PAGERDUTY_SEVERITY = {Severity.critical: "critical", Severity.high: "error", Severity.medium: "warning",
                      Severity.low: "warning", Severity.info: "info"}


class ReceiverUnavailable(Exception):
    """The receiver's circuit is open or the call failed after its retries."""


def subject(incident: IncidentChangedPayload) -> str:
    where = ", ".join(incident.hosts[:3] or incident.services[:3]) or "fleet"
    return f"[{incident.status.value.upper()}] {incident.severity.value}: {incident.title} ({where})"


@dataclass
class Sender:
    settings: WorkerSettings
    failures: dict[str, int] = field(default_factory=dict)
    open_until: dict[str, float] = field(default_factory=dict)

    async def send(self, receiver: Receiver, incident: IncidentChangedPayload) -> None:
        if self.open_until.get(receiver.name, 0.0) > time.monotonic():
            raise ReceiverUnavailable(f"receiver {receiver.name}: circuit open after repeated failures")
        try:
            await self._with_retries(receiver, incident)
        except (httpx.HTTPError, OSError, smtplib.SMTPException) as exc:
            self.failures[receiver.name] = self.failures.get(receiver.name, 0) + 1
            if self.failures[receiver.name] >= BREAKER_FAILURES:
                self.open_until[receiver.name] = time.monotonic() + BREAKER_OPEN_S
            raise ReceiverUnavailable(f"receiver {receiver.name}: {exc!r}") from exc
        self.failures[receiver.name] = 0

    async def _with_retries(self, receiver: Receiver, incident: IncidentChangedPayload) -> None:
        for attempt in range(RETRIES):
            try:
                return await self._send_once(receiver, incident)
            except (httpx.HTTPError, OSError, smtplib.SMTPException):
                if attempt == RETRIES - 1:
                    raise
                await asyncio.sleep(0.2 * 2**attempt)

    async def _send_once(self, receiver: Receiver, incident: IncidentChangedPayload) -> None:
        if receiver.kind == "email":
            return await asyncio.to_thread(self._mail, receiver, incident)
        url = await check_url(receiver.url or "", self.settings.outbound_allowed_hosts)
        body = self._body(receiver, incident)
        async with httpx.AsyncClient(timeout=self.settings.notification_timeout_s) as client:
            (await client.post(url, json=body)).raise_for_status()

    def _body(self, receiver: Receiver, incident: IncidentChangedPayload) -> dict:
        if receiver.kind == "slack":
            return {"text": subject(incident)}
        if receiver.kind == "pagerduty":  # Events API v2: one PagerDuty incident per our incident (dedup_key)
            key = self.settings.pagerduty_routing_keys.get(receiver.name)
            return {"routing_key": key.get_secret_value() if key else "", "dedup_key": incident.incident_id,
                    "event_action": PAGERDUTY_ACTIONS[incident.status],
                    "payload": {"summary": subject(incident)[:1024], "source": ", ".join(incident.hosts) or "aiops",
                                "severity": PAGERDUTY_SEVERITY[incident.severity]}}
        return {"subject": subject(incident), "incident": incident.model_dump(mode="json")}

    def _mail(self, receiver: Receiver, incident: IncidentChangedPayload) -> None:
        message = EmailMessage()
        message["Subject"], message["From"], message["To"] = subject(incident), self.settings.smtp_from, ", ".join(receiver.to)
        message.set_content(f"{subject(incident)}\n\nevents: {incident.event_count}\nfirst seen: "
                            f"{incident.first_seen_at.isoformat()}\nincident: {incident.incident_id}\n")
        with smtplib.SMTP(self.settings.smtp_host, self.settings.smtp_port,
                          timeout=self.settings.notification_timeout_s) as smtp:
            if self.settings.smtp_username:
                smtp.starttls()
                smtp.login(self.settings.smtp_username, self.settings.smtp_password.get_secret_value())
            smtp.send_message(message)
