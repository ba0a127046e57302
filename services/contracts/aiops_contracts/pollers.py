"""Polled sources (pollers): the kinds the worker polls and each kind's settings model.

A poller source is a row of `sources` with a kind from POLLER_SETTINGS, a `target` (a host for SNMP, a base
URL for HTTP APIs), an interval, `config` (plain settings), `credentials` (sealed with SECRETS_KEY, never
returned by the API) and `labels` (added to every metric and event it produces). The kind's model validates
config and credentials merged: its `SecretStr` fields are the credentials, the rest the config. The API
validates with it at create/update (422 naming the field); the worker builds the poller from it.

A new kind: add it to SourceKind, write its model here and add one line to POLLER_SETTINGS, then write its
poller in aiops_worker/producers/ (see aiops_worker/producers/poller.py).
"""

import re
import typing
from typing import Annotated, Any, ClassVar, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from redis.asyncio import Redis

from aiops_contracts.events import FINGERPRINT_MAX_CHARS, Severity
from aiops_contracts.secrets import SecretBox
from aiops_contracts.settings import CommonSettings
from aiops_contracts.sources import SourceKind


class PollerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_is_url: ClassVar[bool] = True  # False: `target` is a host name or address
    timeout_s: float = Field(default=10.0, gt=0, le=300)  # one poll, all its requests together

    @classmethod
    def credential_fields(cls) -> frozenset[str]:
        return frozenset(name for name, field in cls.model_fields.items()
                         if SecretStr in (field.annotation, *typing.get_args(field.annotation)))

    def credentials(self) -> dict[str, str]:
        """The credential fields that are set, in plain text (for sealing)."""
        values = {name: getattr(self, name) for name in self.credential_fields()}
        return {name: value.get_secret_value() for name, value in values.items() if value is not None}

    def config(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude=set(self.credential_fields()), exclude_unset=True)


class SnmpSettings(PollerSettings):
    target_is_url = False
    timeout_s: float = Field(default=5.0, gt=0, le=300)
    version: Literal["2c", "3"] = "2c"
    port: int = Field(default=161, ge=1, le=65535)
    community: SecretStr | None = None  # v2c
    username: str | None = None  # v3 (USM)
    auth_protocol: Literal["MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"] | None = None
    auth_key: SecretStr | None = None
    priv_protocol: Literal["DES", "AES", "AES192", "AES256"] | None = None
    priv_key: SecretStr | None = None
    request_timeout_s: float = Field(default=1.0, gt=0, le=30)  # one request; retried `retries` times
    retries: int = Field(default=1, ge=0, le=5)
    interfaces: bool = True  # IF-MIB counters (as rates)
    host_resources: bool = True  # HOST-RESOURCES-MIB storage and CPU
    oids: dict[str, str] = Field(default_factory=dict)  # extra scalars: field name -> numeric OID

    @model_validator(mode="after")
    def _version_credentials(self) -> "SnmpSettings":
        if self.version == "2c" and self.community is None:
            raise ValueError("community: SNMP v2c needs a community (in credentials)")
        if self.version == "3" and not self.username:
            raise ValueError("username: SNMP v3 needs a user name")
        if (self.auth_protocol is None) != (self.auth_key is None):
            raise ValueError("auth_key: auth_protocol and auth_key (in credentials) go together")
        if (self.priv_protocol is None) != (self.priv_key is None):
            raise ValueError("priv_key: priv_protocol and priv_key (in credentials) go together")
        if self.priv_protocol and not self.auth_protocol:
            raise ValueError("priv_protocol: privacy needs authentication (auth_protocol)")
        return self


class RedfishSettings(PollerSettings):
    username: str = Field(min_length=1)
    password: SecretStr
    auth: Literal["session", "basic"] = "session"
    verify_tls: bool = True  # BMCs often carry self-signed certificates: False accepts them
    events: bool = True  # subscribe to the BMC's EventService, where it has one, so it pushes its alerts


# A BMC component's health as an alert, the same whether the poller read it or the BMC pushed it as an event.
REDFISH_SEVERITIES = {"Warning": Severity.medium, "Critical": Severity.critical}


def redfish_fingerprint(source_id: str, component: str) -> str:
    """The alert key of a BMC component (its @odata.id) of a source."""
    return f"redfish:{source_id}:{component}"[:FINGERPRINT_MAX_CHARS]


REDFISH_PUSHED_KEY = "aiops:redfish:pushed"


def redfish_pushed_key(settings: CommonSettings, source_id: str) -> str:
    """A Redis hash: the alert status ("firing" or "resolved") a source's BMC last pushed, by component, kept until
    the source's poller has read that component (its reading then wins). The value is the status alone, as it was
    before pushes had ids (a worker of then, still running during a rolling upgrade, reads and settles it so); the
    push's id is beside it in another hash (redfish_push_ids_key)."""
    return settings.redis_key(REDFISH_PUSHED_KEY, source_id)


def redfish_push_ids_key(pushed_key: str) -> str:
    """A Redis hash beside the pushed hash (redfish_pushed_key): by component, an id of the push that noted its
    status, so that a poll deleting the push it read (compare-and-delete, settle_redfish_pushes) leaves a later push
    of the same status alone. A status noted by an API of before has none (read as "")."""
    return f"{pushed_key}:ids"


class RedfishPush(NamedTuple):
    """A push as a poll read it from the pushed hashes: its status and its id ("": none)."""

    status: str
    push_id: str


async def note_redfish_pushes(redis: Redis, pushed_key: str, statuses: dict[str, str], push_id: str,
                              ttl_s: int) -> None:
    """Notes a push: the status by component and the push's id beside it, both at once (one transaction)."""
    ids_key = redfish_push_ids_key(pushed_key)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(pushed_key, mapping=dict[Any, Any](statuses))
        pipe.hset(ids_key, mapping=dict[Any, Any].fromkeys(statuses, push_id))
        pipe.expire(pushed_key, ttl_s)
        pipe.expire(ids_key, ttl_s)
        await pipe.execute()


async def redfish_pushes(redis: Redis, pushed_key: str) -> dict[str, RedfishPush]:
    """What the BMC pushed, by component, that no poll settled yet: both hashes read at once (one transaction)."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hgetall(pushed_key)
        pipe.hgetall(redfish_push_ids_key(pushed_key))
        values, ids = await pipe.execute()
    return {_text(component): RedfishPush(_text(value), _text(ids.get(component, b"")))
            for component, value in values.items()}


# KEYS[1] the pushed hash, KEYS[2] its ids, ARGV component, value, id, ...: each deleted (with its id) only if both
# are still as read, a missing id read as "" (a status noted by an API of before pushes had ids).
_SETTLE_IF_UNCHANGED = """
local deleted = 0
for i = 1, #ARGV, 3 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] and (redis.call('HGET', KEYS[2], ARGV[i]) or '') == ARGV[i + 2] then
    deleted = deleted + redis.call('HDEL', KEYS[1], ARGV[i])
    redis.call('HDEL', KEYS[2], ARGV[i])
  end
end
return deleted
"""


async def settle_redfish_pushes(redis: Redis, pushed_key: str, settled: dict[str, RedfishPush]) -> int:
    """Deletes the pushes a poll read, each only if still as read (its status and its id): one pushed since, of
    another status or the same, is left to the next poll. The number deleted."""
    args = [part for component, push in settled.items() for part in (component, push.status, push.push_id)]
    return int(await redis.eval(_SETTLE_IF_UNCHANGED, 2, pushed_key, redfish_push_ids_key(pushed_key), *args))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def push_path(kind: str, source_id: str) -> str:
    """Where a polled source's device pushes its events on the API (a Redfish subscription's Destination)."""
    return f"/webhooks/{kind}/{source_id}"


def push_context(box: SecretBox, source_id: str) -> str:
    """The secret a polled source's device sends back with each pushed event (a Redfish subscription's Context)."""
    return box.derive(f"push:{source_id}")


class DatadogSettings(PollerSettings):
    """target: the site's API URL, e.g. https://api.datadoghq.com or https://api.datadoghq.eu"""

    api_key: SecretStr
    application_key: SecretStr
    metric_queries: list[str] = Field(default_factory=list, max_length=50)  # e.g. "avg:system.cpu.user{*} by {host}"
    log_query: str | None = None  # e.g. "status:error service:web"; None: no logs
    log_limit: int = Field(default=1000, ge=1, le=10_000)  # log events per poll, at most


class SplunkSettings(PollerSettings):
    """target: the management URL, e.g. https://splunk.example.com:8089"""

    token: SecretStr  # an authentication token (Bearer)
    search: str = Field(min_length=1)  # e.g. "search index=main error"
    earliest: str = "-5m"  # each poll searches from here (or from the last poll's end) to now
    verify_tls: bool = True


class ThousandEyesSettings(PollerSettings):
    """target: https://api.thousandeyes.com"""

    token: SecretStr  # OAuth bearer token
    # Test ids (digits, as in the v7 API's testId); empty: every test of the account.
    test_ids: list[Annotated[str, Field(pattern=r"^\d{1,20}$")]] = Field(default_factory=list, max_length=100)
    window: str = Field(default="10m", pattern=r"^\d+[smhdw]$")


WEBHOOK_SECRET_KEY = "webhook_secret"  # the credential that signs a polled source's webhooks (GitHub)
MIN_WEBHOOK_SECRET_CHARS = 32


class GithubActionsSettings(PollerSettings):
    """target: https://api.github.com (GitHub Enterprise Server: https://<host>/api/v3). Its workflow_run
    webhook (POST /webhooks/github) is signed with `webhook_secret`."""

    token: SecretStr | None = None  # a token with actions:read; public repositories need none
    webhook_secret: SecretStr | None = None  # the repository webhook's secret (X-Hub-Signature-256)
    repositories: list[str] = Field(min_length=1, max_length=100)  # owner/repo
    per_page: int = Field(default=50, ge=1, le=100)
    max_pages: int = Field(default=5, ge=1, le=50)  # per repository and poll, newest first
    min_rate_remaining: int = Field(default=20, ge=0)  # a poll stops early below this many requests left

    @model_validator(mode="after")
    def _repositories(self) -> "GithubActionsSettings":
        secret = self.webhook_secret.get_secret_value() if self.webhook_secret else None
        if secret is not None and len(secret) < MIN_WEBHOOK_SECRET_CHARS:
            raise ValueError(f"webhook_secret: at least {MIN_WEBHOOK_SECRET_CHARS} characters (a short secret makes "
                             "signatures guessable)")
        for repository in self.repositories:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repository):
                raise ValueError(f"repositories: {repository!r} is not owner/repo")
        return self


class JenkinsSettings(PollerSettings):
    """target: the Jenkins URL, e.g. https://jenkins.example.com"""

    username: str | None = None
    api_token: SecretStr | None = None  # the user's API token (basic auth with the user name)
    jobs: list[str] = Field(min_length=1, max_length=200)  # full names, folders with "/": "team/app/main"
    max_builds: int = Field(default=20, ge=1, le=100)  # newest builds read per job and poll
    verify_tls: bool = True


class ConnectionStep(BaseModel):
    stage: Literal["config", "dns", "tcp", "tls", "auth", "protocol", "timeout", "worker"]
    ok: bool
    message: str


class ConnectionCheck(BaseModel):
    """The answer of a source's "test connection": the steps passed, then the one that failed (if any)."""

    ok: bool
    steps: list[ConnectionStep]
    duration_s: float


POLLER_SETTINGS: dict[SourceKind, type[PollerSettings]] = {
    SourceKind.snmp: SnmpSettings,
    SourceKind.redfish: RedfishSettings,
    SourceKind.datadog: DatadogSettings,
    SourceKind.splunk: SplunkSettings,
    SourceKind.thousandeyes: ThousandEyesSettings,
    SourceKind.github_actions: GithubActionsSettings,
    SourceKind.jenkins: JenkinsSettings,
}


def is_poller(kind: str) -> bool:
    return kind in POLLER_SETTINGS


def poller_settings(kind: str, config: dict[str, Any], credentials: dict[str, str]) -> PollerSettings:
    """The kind's settings from a source's config and opened credentials; ValidationError naming the field."""
    return POLLER_SETTINGS[SourceKind(kind)].model_validate({**config, **credentials})
