"""Redfish BMCs (DMTF Redfish, aiohttp): Systems, and each Chassis' Thermal (temperatures, fans) and Power
(consumption, supplies), with a session (SessionService, `X-Auth-Token`, logged in again when it expires) or
basic auth.

Metrics (tags: the source's labels, `source`, `host` = the BMC's host): `redfish_system` (health_ok, power_on
per `system`), `redfish_temperature` (reading_celsius per `sensor`), `redfish_fan` (reading, health_ok per
`fan`), `redfish_power` (consumed_watts per `chassis`), `redfish_psu` (health_ok per `psu`).

Health roll-up: every component whose Status.Health is Warning or Critical (a system's HealthRollup, a fan,
a sensor, a supply) is a firing alert of this source, keyed by the component's @odata.id; when it is OK again
(or gone), the alert is resolved. Alerts are sent on changes only (and for what is unhealthy at the first poll),
and where the BMC pushed otherwise: the poller's reading wins (see Events). What was sent (and the pushes a poll
settled) is noted once the poll's result is published (its commit): changes of a poll not published are sent by
the next. A settled push is deleted only if it is still the one the poll read (compare-and-delete, one Lua
script, aiops_contracts.pollers.settle_redfish_pushes: the status and the push's id, which the API notes in a hash
beside the status): a push arriving between the poll's reading and its commit, of another status or the same, is
left to the next poll. (A status noted by an API of before pushes had ids has none: it is read and settled as
before, by its status.)

Events: where the service root links an enabled EventService (and `events` is on), the poller subscribes
(POST to its Subscriptions, an EventDestination with the source's push URL as Destination and as Context the
source's secret and an id of this poller; a subscription to that URL left by an earlier poller of the source is
deleted first). The BMC then pushes its alerts to the API at once (aiops_api/webhooks/redfish.py), keyed like
the polled ones; the API notes by component what was pushed (redfish_pushed_key), and the next poll that reads
such a component sends its own state where the push said otherwise (a pushed Warning read OK is resolved, a
pushed OK or Warning read Critical fires again as Critical). When the poller stops (the source removed, disabled
or changed, or handed to another replica, which subscribes again), it deletes every subscription of the collection
that still carries its Context: found by listing, not by the path the BMC answered, because a poll cancelled or
timed out after its POST reached the BMC leaves one it never learnt the path of, and a BMC reuses ids, so a path
may by then hold the next poller's; one the BMC fails to read or delete is logged (with its path) and the others
are still deleted; it waits for the BMC no longer than a poll would (`timeout_s`), for the whole close. A failed
subscription (refused, unreachable, an unexpected answer) is logged and tried again at later polls,
SUBSCRIBE_RETRY_S doubling up to SUBSCRIBE_RETRY_MAX_S; polling goes on. No push URL (PUBLIC_URL unset) or `events` off: no subscription.
Every RECHECK_EVERY_POLLS polls a subscribed poller lists the collection for its Context, and subscribes again
where none has it: a handover's former replica reads its own Context at a path and then deletes it, and between
the two the next replica may have deleted that one and been given the same id by the BMC (a BMC's restart loses
subscriptions too). A check that fails is logged and done again at a later poll.

Sessions: a login runs as a task of its own, which the poll awaits shielded: a poll cancelled (the source
disabled, the poll's timeout) while the BMC creates the session does not drop the BMC's answer (the session's
X-Auth-Token and Location). The next poll takes that login's session, and the close waits for it (within its
`timeout_s`) to delete it; a BMC that has not answered by then leaves a session nobody knows the path of,
which it ends when it expires.
"""

import asyncio
import logging
import secrets
import time
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from aiops_contracts.events import AlertPayload, AlertStatus
from aiops_contracts.pollers import (
    REDFISH_SEVERITIES,
    RedfishPush,
    RedfishSettings,
    redfish_fingerprint,
    redfish_pushes,
    settle_redfish_pushes,
)
from aiops_contracts.sources import SourceKind
from aiops_contracts.timing import Backoff
from aiops_worker.producers.http import HttpPoller
from aiops_worker.producers.poller import CheckFailed, PolledSource, PollResult

log = logging.getLogger(__name__)
SERVICE_ROOT = "/redfish/v1"
SUBSCRIBE_RETRY_S, SUBSCRIBE_RETRY_MAX_S = 60.0, 3600.0
RECHECK_EVERY_POLLS = 5  # a subscribed poller checks every this many polls that its subscription is still there


class RedfishPoller(HttpPoller[RedfishSettings]):
    kind = SourceKind.redfish

    def __init__(self, source: PolledSource) -> None:
        super().__init__(source, RedfishSettings)
        self.host = urlsplit(source.target).hostname or source.target
        self._unhealthy: dict[str, AlertPayload] = {}  # firing alerts by component id, as last sent
        self._session_path: str | None = None  # the session to delete at the end
        self._login_task: asyncio.Task[None] | None = None  # the latest login, perhaps still waiting for the BMC
        self._subscriptions: str | None = None  # the collection it asked to subscribe in: cleaned at the end
        self._context = f"{source.push_context}.{secrets.token_hex(8)}"  # the webhook checks the part before "."
        wanted = source.push_url and source.push_context and self.settings.events
        self._subscribe_at: float | None = 0.0 if wanted else None  # when to (try to) subscribe, monotonic
        self._subscribe_backoff = Backoff(SUBSCRIBE_RETRY_S, SUBSCRIBE_RETRY_MAX_S)
        self._polls_to_recheck: int | None = None  # subscribed: polls until it checks its subscription is there

    def headers(self) -> dict[str, str]:
        if self.settings.auth != "basic":
            return {}
        return {"Authorization": aiohttp.encode_basic_auth(self.settings.username,
                                                           self.settings.password.get_secret_value())}

    async def aclose(self) -> None:
        """Deletes its subscriptions and session on the BMC, waiting for it no longer than for a poll (aiohttp's
        own bound is minutes, and connection tests and the manager's end wait for this), then closes the client."""
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                await self._unsubscribe_and_log_out()
        except TimeoutError:
            log.warning("redfish subscription or session left on an unresponsive BMC",
                        extra={"source": self.source.name, "timeout_s": self.settings.timeout_s})
        finally:
            if self._login_task is not None:
                self._login_task.cancel()  # unanswered still: no session known to delete
            await super().aclose()

    async def _unsubscribe_and_log_out(self) -> None:
        if self._subscriptions:  # first: the session's end may take them along
            await self._unsubscribe(self._subscriptions)
        if self._login_task is not None and not self._login_task.done():  # a cancelled poll's: its session too
            await asyncio.wait({self._login_task})
        with suppress(CheckFailed, aiohttp.ClientError, TimeoutError):  # else the session expires on its own
            if self._session_path:
                await self._delete(self._session_path)

    async def _unsubscribe(self, collection: str) -> None:
        """Deletes every subscription of `collection` that carries this poller's Context; one the BMC fails to
        read or delete is logged, and the others are still looked at."""
        try:
            paths = await self._member_paths(collection)
        except (CheckFailed, aiohttp.ClientError, TimeoutError) as exc:  # gone already, or the BMC unreachable
            log.warning("redfish subscriptions not listed, those of this poller are left on the BMC",
                        extra={"source": self.source.name, "subscriptions": collection,
                               "error": str(exc) or repr(exc)})
            return
        for path in paths:
            try:
                if (await self._get(path)).get("Context") == self._context:
                    await self._delete(path)
            except (CheckFailed, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("redfish subscription not read or not deleted, perhaps left on the BMC",
                            extra={"source": self.source.name, "subscription": path, "error": str(exc) or repr(exc)})

    async def check(self) -> None:
        await self._get(f"{SERVICE_ROOT}/Systems")

    async def poll(self) -> PollResult:
        if self._subscribe_at is not None and time.monotonic() >= self._subscribe_at:
            await self._try_subscribe()
        elif self._polls_to_recheck is not None:
            self._polls_to_recheck -= 1
            if self._polls_to_recheck <= 0:
                await self._recheck_subscription()
        pushes = await self._pushed()
        pushed = {component: push.status for component, push in pushes.items()}
        now_ns = time.time_ns()
        result, states = PollResult(), dict[str, tuple[str, str | None]]()
        for system in await self._members(f"{SERVICE_ROOT}/Systems"):
            name = system.get("Id") or system["@odata.id"]
            status = system.get("Status") or {}
            rollup = status.get("HealthRollup") or status.get("Health")
            result.lines.append(self.point("redfish_system", {"host": self.host, "system": name}, {
                "health_ok": int(rollup in (None, "OK")), "power_on": int(system.get("PowerState") == "On")}, now_ns))
            states |= _state(system, f"System {name}", rollup)
        for chassis in await self._members(f"{SERVICE_ROOT}/Chassis"):
            lines, found = await self._chassis(chassis, now_ns)
            result.lines += lines
            states |= found
        result.alerts, unhealthy = self._changes(states, pushed)
        settled = {component: pushes[component] for component in pushed.keys() & states.keys()}  # as read

        async def commit() -> None:
            self._unhealthy = unhealthy
            if settled:
                await self._settle(settled)
        result.commit = commit
        return result

    async def _pushed(self) -> dict[str, RedfishPush]:
        """What the BMC last pushed, by component, that no poll read yet: the alert status ("firing" or
        "resolved") and the push's id."""
        if self.source.redis is None or self.source.pushed_key is None:
            return {}
        return await redfish_pushes(self.source.redis, self.source.pushed_key)

    async def _settle(self, settled: dict[str, RedfishPush]) -> None:
        """Deletes the pushes the poll read, each only if still as read: one pushed since is the next poll's."""
        assert self.source.redis is not None and self.source.pushed_key is not None  # pushes were read there
        await settle_redfish_pushes(self.source.redis, self.source.pushed_key, settled)

    async def _chassis(self, chassis: dict[str, Any],
                       now_ns: int) -> tuple[list[str], dict[str, tuple[str, str | None]]]:
        lines, problems = list[str](), dict[str, tuple[str, str | None]]()
        name = chassis.get("Id") or chassis["@odata.id"]
        if link := (chassis.get("Thermal") or {}).get("@odata.id"):
            thermal = await self._get(link)
            for sensor in thermal.get("Temperatures") or []:
                if sensor.get("ReadingCelsius") is not None:
                    lines.append(self.point("redfish_temperature", {"host": self.host, "sensor": _name(sensor)},
                                            {"reading_celsius": float(sensor["ReadingCelsius"])}, now_ns))
                problems |= _state(sensor, f"Temperature {_name(sensor)}")
            for fan in thermal.get("Fans") or []:
                fields = {"health_ok": int(_health(fan) in (None, "OK"))}
                if fan.get("Reading") is not None:
                    fields["reading"] = float(fan["Reading"])
                lines.append(self.point("redfish_fan", {"host": self.host, "fan": _name(fan)}, fields, now_ns))
                problems |= _state(fan, f"Fan {_name(fan)}")
        if link := (chassis.get("Power") or {}).get("@odata.id"):
            power = await self._get(link)
            for control in power.get("PowerControl") or []:
                if control.get("PowerConsumedWatts") is not None:
                    lines.append(self.point("redfish_power", {"host": self.host, "chassis": name},
                                            {"consumed_watts": float(control["PowerConsumedWatts"])}, now_ns))
            for supply in power.get("PowerSupplies") or []:
                lines.append(self.point("redfish_psu", {"host": self.host, "psu": _name(supply)},
                                        {"health_ok": int(_health(supply) in (None, "OK"))}, now_ns))
                problems |= _state(supply, f"Power supply {_name(supply)}")
        return lines, problems

    async def _try_subscribe(self) -> None:
        try:
            subscribed = await self._subscribe()
        except (CheckFailed, aiohttp.ClientError, TimeoutError) as exc:
            retry_s = self._subscribe_backoff.next()
            self._subscribe_at = time.monotonic() + retry_s
            self._polls_to_recheck = None  # subscribing again is the backoff's
            log.warning("redfish events not subscribed, trying again later",
                        extra={"source": self.source.name, "error": str(exc) or repr(exc), "retry_s": retry_s})
        else:
            self._subscribe_at = None
            self._polls_to_recheck = RECHECK_EVERY_POLLS if subscribed else None

    async def _recheck_subscription(self) -> None:
        """Subscribes again if no subscription of the collection carries its Context any more."""
        assert self._subscriptions is not None  # subscribed there
        self._polls_to_recheck = RECHECK_EVERY_POLLS
        try:
            for path in await self._member_paths(self._subscriptions):
                if (await self._get(path)).get("Context") == self._context:
                    return
        except (CheckFailed, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("redfish subscription not checked, checking again later",
                        extra={"source": self.source.name, "error": str(exc) or repr(exc)})
            return
        log.warning("redfish subscription gone from the BMC, subscribing again", extra={"source": self.source.name})
        await self._try_subscribe()

    async def _subscribe(self) -> bool:
        """Whether it subscribed (not where the BMC has no enabled EventService)."""
        event_service = (await self._get(SERVICE_ROOT)).get("EventService") or {}
        if "@odata.id" not in event_service:
            return False
        service = await self._get(event_service["@odata.id"])
        collection = (service.get("Subscriptions") or {}).get("@odata.id")
        if service.get("ServiceEnabled") is False or not collection:
            return False
        for path in await self._member_paths(collection):
            if (await self._get(path)).get("Destination") == self.source.push_url:  # an earlier poller's
                await self._delete(path)
        destination = {"Destination": self.source.push_url, "Context": self._context, "Protocol": "Redfish"}
        self._subscriptions = collection  # before the POST: its answer may never be read
        async with self.api.request("POST", collection, json=destination) as answer:
            location = answer.headers.get("Location")
        log.info("redfish events subscribed", extra={"source": self.source.name, "subscription": location})
        return True

    def _changes(self, states: dict[str, tuple[str, str | None]],
                 pushed: dict[str, str]) -> tuple[list[AlertPayload], dict[str, AlertPayload]]:
        """Alerts for components that became unhealthy (or changed health, or that a push spoke of since), and
        resolutions for those healed (or that a push said were failing); and the firing alerts once they are sent."""
        problems = {component: (title, health) for component, (title, health) in states.items()
                    if health in REDFISH_SEVERITIES}
        alerts, unhealthy = [], dict(self._unhealthy)
        for component, (title, health) in problems.items():
            previous = unhealthy.get(component)
            if previous is None or previous.severity != REDFISH_SEVERITIES[health] or component in pushed:
                alert = self.alert(fingerprint=redfish_fingerprint(self.source.id, component),
                                   title=f"{title} on {self.host}: {health}", severity=REDFISH_SEVERITIES[health],
                                   host=self.host, labels={"component": component},
                                   details={"health": health, "bmc": self.source.target})
                unhealthy[component] = alert
                alerts.append(alert)
        healed = set(unhealthy) - set(problems)
        for component in healed:
            alert = unhealthy.pop(component)
            alerts.append(alert.model_copy(update={"status": AlertStatus.resolved,
                                                   "title": alert.title.rsplit(":", 1)[0] + ": OK"}))
        for component, (title, _) in states.items():
            if component not in problems.keys() | healed and pushed.get(component) == AlertStatus.firing:
                alerts.append(self.alert(fingerprint=redfish_fingerprint(self.source.id, component),
                                         title=f"{title} on {self.host}: OK", status=AlertStatus.resolved,
                                         host=self.host, labels={"component": component},
                                         details={"health": "OK", "bmc": self.source.target}))
        return alerts, unhealthy

    async def _delete(self, path: str) -> None:
        async with self.api.request("DELETE", path):
            pass

    async def _members(self, collection: str) -> list[dict[str, Any]]:
        return [await self._get(path) for path in await self._member_paths(collection)]

    async def _member_paths(self, collection: str) -> list[str]:
        paths = []
        for member in (await self._get(collection)).get("Members") or []:
            if not isinstance(member, dict) or not isinstance(path := member.get("@odata.id"), str):
                raise CheckFailed("protocol", f"GET {collection}: a member without an @odata.id")
            paths.append(path)
        return paths

    async def _get(self, path: str) -> dict[str, Any]:
        if self.settings.auth == "session" and "X-Auth-Token" not in self.api.headers:
            await self._login()
        try:
            return await self._json(path)
        except CheckFailed as exc:
            if exc.stage != "auth" or self.settings.auth != "session":
                raise
        await self._login()  # the session expired: once more with a new one
        return await self._json(path)

    async def _json(self, path: str) -> dict[str, Any]:
        body = await self.api.request_json("GET", path)
        if not isinstance(body, dict):
            raise CheckFailed("protocol", f"GET {path}: not a Redfish resource")
        return body

    async def _login(self) -> None:
        """Logs in, or waits for the login still in flight (a cancelled poll's): a second one would leave the
        first's session behind once the BMC answers it."""
        if self._login_task is None or self._login_task.done():
            self.api.headers.pop("X-Auth-Token", None)
            self._login_task = asyncio.create_task(self._log_in())
            self._login_task.add_done_callback(_retrieved)
        await asyncio.shield(self._login_task)

    async def _log_in(self) -> None:
        credentials = {"UserName": self.settings.username, "Password": self.settings.password.get_secret_value()}
        async with self.api.request("POST", f"{SERVICE_ROOT}/SessionService/Sessions", json=credentials) as answer:
            token = answer.headers.get("X-Auth-Token")
            location = answer.headers.get("Location")
        if not token:
            raise CheckFailed("protocol", "the BMC created a session without an X-Auth-Token")
        self.api.headers["X-Auth-Token"] = token
        self._session_path = urlsplit(location).path if location else None


def _retrieved(task: asyncio.Task[None]) -> None:
    """A login no poll awaits any more (it was cancelled): its failure is not logged as never retrieved."""
    if not task.cancelled():
        task.exception()


def _health(resource: dict[str, Any]) -> str | None:
    return (resource.get("Status") or {}).get("Health")


def _name(resource: dict[str, Any]) -> str:
    return str(resource.get("Name") or resource.get("MemberId") or resource.get("@odata.id") or "?")


def _state(resource: dict[str, Any], title: str, health: str | None = None) -> dict[str, tuple[str, str | None]]:
    """{component id: (title, health)}: the health None where the BMC gives none or the component is absent."""
    if (resource.get("Status") or {}).get("State") == "Absent":
        health = None
    else:
        health = health or _health(resource)
    return {str(resource.get("@odata.id") or title): (title, health)}
