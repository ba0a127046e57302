"""Migrations that change what is already stored keep the rows: 0007 renames metric_forecasts to forecasts
(table, primary key and indexes under the model's names) and back; 0013 drops the url of stored awx, terraform
and servicenow actions, which the contract now refuses; 0021 moves an evidence row's source out of its kind,
which becomes what the signal is, and back; 0022 gives stored alerts the host name correlation knows their
host by, as aiops_contracts.topology.host_name has it, and its index replaces the host's, and runs again after
a failed index build; 0023 gives incidents.hosts a finer statistics target and analyzes it, and back; 0026
moves the sweep's resolutions waiting to be announced from their event id to the outbox column, and back, and
runs again after a failed index build; 0027 renames the sources holding a name the worker's own alerts carry,
keeping all else, audits each rename, and finds nothing to do when run again."""

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from psycopg.types.json import Jsonb
from sqlalchemy.engine import make_url

from aiops_contracts.automations import RuleSpec
from aiops_contracts.db import Forecast
from aiops_contracts.db.migrate import ALEMBIC_INI, create_database_if_missing, drop_database
from aiops_contracts.settings import CommonSettings
from aiops_contracts.sources import RESERVED_SOURCE_NAMES
from aiops_contracts.topology import host_name


@pytest.fixture
def scratch_url() -> Iterator[str]:
    base = make_url(os.environ.get("DATABASE_URL", CommonSettings().database_url))
    url = base.set(database=f"aiops_migration_{uuid.uuid4().hex[:8]}").render_as_string(hide_password=False)
    create_database_if_missing(url)
    yield url
    drop_database(url)


def _migrate(url: str, revision: str, *, down: bool = False) -> None:
    config = Config(str(ALEMBIC_INI))
    config.attributes["url"] = url
    (command.downgrade if down else command.upgrade)(config, revision)


def _names(dsn: str, table: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", (table,)).fetchall()
    return {name for (name,) in rows}


def test_forecasts_rename_keeps_rows_and_takes_the_models_names(scratch_url: str) -> None:
    dsn = make_url(scratch_url).set(drivername="postgresql").render_as_string(hide_password=False)
    _migrate(scratch_url, "0006")
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO metric_forecasts (series_key, measurement, field, tags, method, last_value, "
                     "last_point_at, computed_at, forecast, details) VALUES ('disk used_percent', 'disk', "
                     "'used_percent', '{}', 'trend', 80, now(), now(), '[]', '{}')")

    _migrate(scratch_url, "head")

    table = Forecast.__table__
    expected = {index.name for index in table.indexes} | {table.primary_key.name}
    assert _names(dsn, "forecasts") == expected and _names(dsn, "metric_forecasts") == set()
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT series_key FROM forecasts").fetchall() == [("disk used_percent",)]
    _migrate(scratch_url, "0006", down=True)
    assert _names(dsn, "metric_forecasts") == {name.replace("forecasts", "metric_forecasts") for name in expected}


def test_platform_urls_are_dropped_from_stored_rules(scratch_url: str) -> None:
    dsn = make_url(scratch_url).set(drivername="postgresql").render_as_string(hide_password=False)
    _migrate(scratch_url, "0012")
    spec = {"name": "awx-fix", "trigger": {"events": ["anomaly"]},
            "action": {"kind": "awx", "url": "https://attacker.example", "template_id": 7}}
    webhook = {**spec, "name": "hook", "action": {"kind": "webhook", "url": "https://hooks.example/x"}}
    with psycopg.connect(dsn) as conn:
        for row in (spec, webhook):
            conn.execute("INSERT INTO automation_rules (id, name, origin, enabled, spec, created_at, updated_at) "
                         "VALUES (gen_random_uuid(), %s, 'api', true, %s, now(), now())",
                         (row["name"], Jsonb(row)))

    _migrate(scratch_url, "head")

    with psycopg.connect(dsn) as conn:
        stored = dict(conn.execute("SELECT name, spec FROM automation_rules").fetchall())
    assert RuleSpec.model_validate(stored["awx-fix"]).action.url is None
    assert RuleSpec.model_validate(stored["hook"]).action.url == "https://hooks.example/x"


EVIDENCE = "SELECT group_key, kind, source, count FROM incident_signals ORDER BY group_key, kind, source"
ORIGINS = "SELECT details->>'origin', details->>'origin_kind' FROM incidents ORDER BY group_key"


def test_evidence_kinds_are_read_from_their_sources_and_folded_back(scratch_url: str) -> None:
    dsn = make_url(scratch_url).set(drivername="postgresql").render_as_string(hide_password=False)
    _migrate(scratch_url, "0020")
    incident, logs = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO sources (id, name, kind, enabled, config) "
                     "VALUES (gen_random_uuid(), 'shop-errors', 'sentry', true, '{}')")
        for row, origin in ((incident, ("alert:host:db-1", "anomaly-detector")), (logs, ("log:t:db-1", "log"))):
            conn.execute("INSERT INTO incidents (id, group_key, title, summary, severity, status, event_count, hosts, "
                         "services, details, first_seen_at, last_seen_at) VALUES (%s, %s, 't', '', 'high', 'open', 9, "
                         "'[]', '[]', %s, now(), now())",
                         (row, origin[0], Jsonb({"origin": origin[0], "origin_kind": origin[1]})))
        for key, kind, count in (("log:t:db-1", "log", 4), ("alert:host:db-1", "anomaly-detector", 1),
                                 ("alert:host:db-1", "alertmanager", 1), ("alert:host:web-1", "shop-errors", 3)):
            conn.execute("INSERT INTO incident_signals (incident_id, group_key, kind, title, count, first_seen_at, "
                         "last_seen_at, rule, via) VALUES (%s, %s, %s, 't', %s, now(), now(), 'same_key', '')",
                         (incident, key, kind, count))

    _migrate(scratch_url, "0021")

    with psycopg.connect(dsn) as conn:
        assert conn.execute(EVIDENCE).fetchall() == [
            ("alert:host:db-1", "alert", "alertmanager", 1), ("alert:host:db-1", "anomaly", "anomaly-detector", 1),
            ("alert:host:web-1", "error", "shop-errors", 3), ("log:t:db-1", "log", "", 4)]
        assert conn.execute(ORIGINS).fetchall() == [("alert:host:db-1", "anomaly"), ("log:t:db-1", "log")]
        # a second kind of one source, and two sources alike in their first 64 characters (the old kind's size)
        for kind, source, count in (("anomaly", "alertmanager", 2), ("alert", "x" * 64 + "-a", 1),
                                    ("alert", "x" * 64 + "-b", 5)):
            conn.execute("INSERT INTO incident_signals (incident_id, group_key, kind, source, title, count, "
                         "first_seen_at, last_seen_at, rule, via) VALUES (%s, 'alert:host:db-1', %s, %s, 't', %s, "
                         "now(), now(), 'same_key', '')", (incident, kind, source, count))

    _migrate(scratch_url, "0020", down=True)

    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT group_key, kind, count FROM incident_signals ORDER BY group_key, kind").fetchall() \
            == [("alert:host:db-1", "alertmanager", 3), ("alert:host:db-1", "anomaly-detector", 1),
                ("alert:host:db-1", "x" * 64, 6), ("alert:host:web-1", "shop-errors", 3), ("log:t:db-1", "log", 4)]
        assert conn.execute(ORIGINS).fetchall() == [("alert:host:db-1", "anomaly-detector"), ("log:t:db-1", "log")]


HOST_LABELS = ["db-1.prod.example.com", "DB-1", " db-1:9187 ", "DB-1.Example.Internal.", "web-2", "[fe80::1]:9100",
               "fe80::1", "10.0.0.1:22", "10.0.0.1", "10.0.0.300", "01.2.3.4", "1.2.3", "[db-3]", "db-4:", ".hidden",
               " ", "", None,
               # junk: Unicode spaces and case, colons that make no IP address, IPv6 spellings, a name past the column
               "\u00a0db-5\u00a0", "db-6\u2003", "\u3000DB-7", "db-8\x1c", "db-9\x85", "\u0130STANBUL-1", "DB-\u00c9.example",
               "\u0391\u03a3", "a.b:1:2", "ab:1:2.3", "[a.b:1:2]:80", "1.2.3.4:80:90", "x::y.z", "::ffff:1.2.3.4",
               "FE80::1%Eth0", "[fe80::1%eth0]:9100", "[::1", "\uff11.2.3.4", "1.2.3.4.", "\u0130" * 200]


def test_stored_alerts_get_their_host_name_and_its_index(scratch_url: str) -> None:
    dsn = make_url(scratch_url).set(drivername="postgresql").render_as_string(hide_password=False)
    _migrate(scratch_url, "0021")
    with psycopg.connect(dsn) as conn:
        for i, label in enumerate(HOST_LABELS):
            conn.execute("INSERT INTO alerts (id, source, fingerprint, title, description, severity, status, host, "
                         "labels, annotations, details, count, first_seen_at, last_seen_at, last_event_id) VALUES "
                         "(gen_random_uuid(), 'nagios', %s, 't', '', 'high', 'firing', %s, '{}', '{}', '{}', 1, "
                         "now(), now(), 'e')", (f"fp-{i}", label))

    _migrate(scratch_url, "0022")

    with psycopg.connect(dsn) as conn:
        stored = dict(conn.execute("SELECT fingerprint, host_name FROM alerts").fetchall())
    assert [stored[f"fp-{i}"] for i in range(len(HOST_LABELS))] == [host_name(label) for label in HOST_LABELS]
    assert {"ix_alerts_host_name_last_seen_at_id"} <= _names(dsn, "alerts")
    assert "ix_alerts_host_last_seen_at_id" not in _names(dsn, "alerts")
    _migrate(scratch_url, "0021", down=True)
    assert "ix_alerts_host_last_seen_at_id" in _names(dsn, "alerts")
    assert "ix_alerts_host_name_last_seen_at_id" not in _names(dsn, "alerts")
    with psycopg.connect(dsn) as conn:
        columns = conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'alerts'")
        assert "host_name" not in {name for (name,) in columns.fetchall()}


def test_host_name_upgrade_runs_again_after_a_failed_index_build(scratch_url: str) -> None:
    """The column and the backfill commit before the index is built CONCURRENTLY: a failed build leaves the
    revision at 0021 with the column and an INVALID index, and the next upgrade, and every later one, succeeds."""
    dsn = make_url(scratch_url).set(drivername="postgresql").render_as_string(hide_password=False)
    _migrate(scratch_url, "0021")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for fingerprint, host in (("fp-old", "DB-1:9187"), ("fp-new", "web-2.example.com")):
            conn.execute("INSERT INTO alerts (id, source, fingerprint, title, description, severity, status, host, "
                         "labels, annotations, details, count, first_seen_at, last_seen_at, last_event_id) VALUES "
                         "(gen_random_uuid(), 'nagios', %s, 't', '', 'high', 'firing', %s, '{}', '{}', '{}', 1, "
                         "now(), now(), 'e')", (fingerprint, host))
        conn.execute("ALTER TABLE alerts ADD COLUMN host_name VARCHAR(255)")
        conn.execute("UPDATE alerts SET host_name = 'set-by-a-writer' WHERE fingerprint = 'fp-new'")
        with pytest.raises(psycopg.errors.UniqueViolation):  # a build that fails half-way leaves its index INVALID
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY ix_alerts_host_name_last_seen_at_id ON alerts (source)")

    _migrate(scratch_url, "0022")

    with psycopg.connect(dsn) as conn:
        stored = dict(conn.execute("SELECT fingerprint, host_name FROM alerts").fetchall())
    assert stored == {"fp-old": "db-1", "fp-new": "set-by-a-writer"}
    _assert_host_name_index(dsn)
    _migrate(scratch_url, "0021", down=True)
    assert "ix_alerts_host_last_seen_at_id" in _names(dsn, "alerts")
    _migrate(scratch_url, "0022")
    _assert_host_name_index(dsn)


def _index(dsn: str, name: str) -> tuple[bool, str]:
    """Whether the index is valid (not left INVALID by a failed concurrent build), and its definition."""
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT indisvalid, pg_get_indexdef(indexrelid) FROM pg_index "
                            "WHERE indexrelid = %s::regclass", (name,)).fetchone()


def _assert_host_name_index(dsn: str) -> None:
    is_valid, definition = _index(dsn, "ix_alerts_host_name_last_seen_at_id")
    assert is_valid and definition.endswith("(host_name, last_seen_at, id)")
    assert "ix_alerts_host_last_seen_at_id" not in _names(dsn, "alerts")


HOSTS_STATISTICS = ("SELECT attstattarget, EXISTS (SELECT FROM pg_stats WHERE tablename = 'incidents' AND attname = 'hosts') "
                    "FROM pg_attribute WHERE attrelid = 'incidents'::regclass AND attname = 'hosts'")


def test_incident_hosts_are_analyzed_with_a_finer_statistics_target_and_back(scratch_url: str) -> None:
    dsn = make_url(scratch_url).set(drivername="postgresql").render_as_string(hide_password=False)
    _migrate(scratch_url, "0022")
    with psycopg.connect(dsn) as conn:
        for host in ("db-1", "web-1"):
            conn.execute("INSERT INTO incidents (id, group_key, title, summary, severity, status, event_count, hosts, "
                         "services, details, first_seen_at, last_seen_at) VALUES (gen_random_uuid(), %s, 't', '', "
                         "'high', 'open', 1, %s, '[]', '{}', now(), now())", (f"alert:host:{host}", Jsonb([host])))
        assert conn.execute(HOSTS_STATISTICS).fetchone() == (-1, False)

    _migrate(scratch_url, "0023")

    with psycopg.connect(dsn) as conn:
        assert conn.execute(HOSTS_STATISTICS).fetchone() == (1000, True)
    _migrate(scratch_url, "0022", down=True)
    with psycopg.connect(dsn) as conn:
        assert conn.execute(HOSTS_STATISTICS).fetchone() == (-1, True)
        conn.execute("ALTER TABLE incidents ALTER COLUMN hosts SET STATISTICS 1000")  # a run cut before its record

    _migrate(scratch_url, "0023")

    with psycopg.connect(dsn) as conn:
        assert conn.execute(HOSTS_STATISTICS).fetchone() == (1000, True)


def test_the_sweeps_waiting_resolutions_move_to_the_outbox_column_and_back(scratch_url: str) -> None:
    dsn = make_url(scratch_url).set(drivername="postgresql").render_as_string(hide_password=False)
    _migrate(scratch_url, "0025")
    with psycopg.connect(dsn) as conn:
        incident = conn.execute("INSERT INTO incidents (id, group_key, title, summary, severity, status, event_count, "
                                "hosts, services, details, first_seen_at, last_seen_at, resolved_at) VALUES "
                                "(gen_random_uuid(), 'log:t:web-1', 't', '', 'high', 'resolved', 1, '[]', '[]', '{}', "
                                "now(), now(), now()) RETURNING id").fetchone()[0]
        for event_id, kind in (("e1", "opened"), (None, "acknowledged"), ("sweep:unannounced", "resolved")):
            conn.execute("INSERT INTO incident_events (incident_id, event_id, at, kind, count, message) VALUES "
                         "(%s, %s, now(), %s, 0, '')", (incident, event_id, kind))
    rows = "SELECT kind, event_id, {} FROM incident_events ORDER BY id"

    _migrate(scratch_url, "0026")

    with psycopg.connect(dsn) as conn:
        assert conn.execute(rows.format("announce")).fetchall() == [
            ("opened", "e1", None), ("acknowledged", None, None), ("resolved", None, "incident.resolved")]
    assert "ix_incident_events_announce" in _names(dsn, "incident_events")
    _migrate(scratch_url, "0025", down=True)
    with psycopg.connect(dsn) as conn:
        assert conn.execute(rows.format("NULL")).fetchall() == [
            ("opened", "e1", None), ("acknowledged", None, None), ("resolved", "sweep:unannounced", None)]


def test_outbox_upgrade_runs_again_after_a_failed_index_build(scratch_url: str) -> None:
    """The column and the move commit before the index is built CONCURRENTLY: a failed build leaves the revision at
    0025 with the column and an INVALID index, and the next upgrade, and every later one, succeeds."""
    dsn = make_url(scratch_url).set(drivername="postgresql").render_as_string(hide_password=False)
    _migrate(scratch_url, "0025")
    with psycopg.connect(dsn, autocommit=True) as conn:
        incident = conn.execute("INSERT INTO incidents (id, group_key, title, summary, severity, status, event_count, "
                                "hosts, services, details, first_seen_at, last_seen_at) VALUES (gen_random_uuid(), "
                                "'log:t:web-1', 't', '', 'high', 'open', 1, '[]', '[]', '{}', now(), now()) "
                                "RETURNING id").fetchone()[0]
        for kind in ("opened", "acknowledged"):
            conn.execute("INSERT INTO incident_events (incident_id, at, kind, count, message) VALUES "
                         "(%s, now(), %s, 0, '')", (incident, kind))
        conn.execute("ALTER TABLE incident_events ADD COLUMN announce VARCHAR(32)")
        with pytest.raises(psycopg.errors.UniqueViolation):  # a build that fails half-way leaves its index INVALID
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY ix_incident_events_announce ON incident_events (incident_id)")

    _migrate(scratch_url, "0026")

    _assert_outbox_index(dsn)
    _migrate(scratch_url, "0025", down=True)
    assert "ix_incident_events_announce" not in _names(dsn, "incident_events")
    _migrate(scratch_url, "0026")
    _assert_outbox_index(dsn)


def _assert_outbox_index(dsn: str) -> None:
    is_valid, definition = _index(dsn, "ix_incident_events_announce")
    assert is_valid and definition.endswith("(id) WHERE (announce IS NOT NULL)")


def test_sources_under_a_reserved_name_are_renamed_keeping_token_config_and_state(scratch_url: str) -> None:
    """Created before the names were refused, their pushes passed for the worker's anomaly, forecast and pipeline
    alerts; renamed, their token, config and state stay (what lets their data keep flowing under a name of their own),
    each rename audited, and running the revision again changes nothing."""
    dsn = make_url(scratch_url).set(drivername="postgresql").render_as_string(hide_password=False)
    _migrate(scratch_url, "0026")
    ids = {name: uuid.uuid4() for name in ("pipelines", "Anomaly-Detector", "capacity-forecast", "shop")}
    taken = f"capacity-forecast-renamed-{ids['capacity-forecast'].hex[:8]}"  # the short new name is held already
    with psycopg.connect(dsn) as conn:
        for name, source_id in [*ids.items(), (taken, uuid.uuid4())]:
            conn.execute("INSERT INTO sources (id, name, kind, token_hash, token_prefix, enabled, config) VALUES "
                         "(%s, %s, 'generic', %s, 'aiops_abc', %s, %s)",
                         (source_id, name, source_id.hex * 2, name != "capacity-forecast", Jsonb({"k": name})))
    stored = "SELECT id, name, token_hash, enabled, config FROM sources ORDER BY id"
    audited = "SELECT actor, action, entity_id, before, after FROM audit_log ORDER BY id"

    _migrate(scratch_url, "0027")

    with psycopg.connect(dsn) as conn:
        rows = {source_id: rest for source_id, *rest in conn.execute(stored).fetchall()}
        audit = conn.execute(audited).fetchall()
    renamed = {"pipelines": f"pipelines-renamed-{ids['pipelines'].hex[:8]}",
               "Anomaly-Detector": f"Anomaly-Detector-renamed-{ids['Anomaly-Detector'].hex[:8]}",
               "capacity-forecast": f"capacity-forecast-renamed-{ids['capacity-forecast'].hex}", "shop": "shop"}
    for name, source_id in ids.items():
        assert rows[source_id] == [renamed[name], source_id.hex * 2, name != "capacity-forecast", {"k": name}]
    assert not {name.lower() for name, *_ in rows.values()} & RESERVED_SOURCE_NAMES
    assert sorted((entity, before["name"], after["name"]) for actor, action, entity, before, after in audit
                  if (actor, action) == ("migration:0027", "source.renamed")) == sorted(
        (str(ids[name]), name, renamed[name]) for name in ids if name != "shop")
    assert len(audit) == 3

    _migrate(scratch_url, "0026", down=True)
    _migrate(scratch_url, "0027")

    with psycopg.connect(dsn) as conn:
        assert {source_id: rest for source_id, *rest in conn.execute(stored).fetchall()} == rows
        assert conn.execute(audited).fetchall() == audit


def test_every_reserved_name_is_renamed_by_a_revision() -> None:
    """A revision renaming the sources that hold reserved names states them as RESERVED (0027 those of its time). A
    name reserved later needs a new revision renaming it: one that ran already in deployments is not run again."""
    scripts = ScriptDirectory.from_config(Config(str(ALEMBIC_INI))).walk_revisions()
    covered = {name for script in scripts for name in getattr(script.module, "RESERVED", ())}
    assert "pipelines" in covered  # 0027's, as the revisions are read
    # is_reserved_source_name lowercases only the name it is given: a reserved name with a capital is never matched.
    assert all(name == name.lower() for name in RESERVED_SOURCE_NAMES), sorted(RESERVED_SOURCE_NAMES)
    missing = RESERVED_SOURCE_NAMES - covered
    assert not missing, (f"reserved source names no revision renames: {sorted(missing)}; add a new migration "
                         "renaming the sources that hold them (as 0027 does, with its own RESERVED), don't edit 0027")
