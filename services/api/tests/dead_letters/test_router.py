"""/api/v1/dead-letters: admins see each stream's dead letters, inspect one (decoded or raw), and re-drive it
onto its stream without the dead-letter fields (audited)."""

from sqlalchemy import select

from aiops_api.auth.tokens import Role
from aiops_contracts.bus import Bus, DeadLetter
from aiops_contracts.db import AuditEntry
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import ALERT_RECEIVED, METRICS_RECEIVED
from aiops_contracts.streams import ALERTS_INGESTED, LOGS_INGESTED, METRICS_INGESTED

ALERTS = ALERTS_INGESTED.name


async def test_dead_letters_are_listed_inspected_and_redriven(client, auth, sessions, bus: Bus) -> None:
    envelope = Envelope(type=ALERT_RECEIVED, source="sentry", payload={"fingerprint": "f", "title": "boom"})
    await bus.dead_letter(ALERTS_INGESTED, "alerts-store", DeadLetter("1-0", envelope.to_entry(), "ValueError('bad')"),
                          ack=False)
    await bus.dead_letter(ALERTS_INGESTED, "alerts-store", DeadLetter("2-0", {b"junk": b"\xff"}, "undecodable entry"),
                          ack=False)
    admin = auth(Role.admin)
    streams = {s["stream"]: s["count"] for s in (await client.get("/api/v1/dead-letters", headers=admin)).json()}
    assert streams[ALERTS] == 2 and streams[LOGS_INGESTED.name] == 0

    first = (await client.get(f"/api/v1/dead-letters/{ALERTS}", headers=admin, params={"limit": 1})).json()
    (junk,) = first["items"]
    assert (junk["error"], junk["envelope"], junk["raw"], junk["group"]) == ("undecodable entry", None,
                                                                           {"junk": "\ufffd"}, "alerts-store")
    older = (await client.get(f"/api/v1/dead-letters/{ALERTS}", headers=admin,
                              params={"before": first["next_cursor"]})).json()
    (letter,) = older["items"]
    assert older["next_cursor"] is None
    assert (letter["original_id"], letter["envelope"]["id"], letter["raw"]) == ("1-0", envelope.id, {})
    one = await client.get(f"/api/v1/dead-letters/{ALERTS}/{letter['id']}", headers=admin)
    assert one.json()["envelope"]["payload"]["title"] == "boom"

    redriven = await client.post(f"/api/v1/dead-letters/{ALERTS}/{letter['id']}/redrive", headers=admin)
    assert redriven.status_code == 200, redriven.text
    ((_, fields),) = await bus.redis.xrange(bus.key(ALERTS_INGESTED))
    assert set(fields) == {b"envelope"} and Envelope.from_entry(fields).id == envelope.id
    assert await bus.redis.xlen(bus.dead_letter_key(ALERTS_INGESTED)) == 1
    again = await client.post(f"/api/v1/dead-letters/{ALERTS}/{letter['id']}/redrive", headers=admin)
    assert again.status_code == 404
    async with sessions() as session:
        (audit,) = await session.scalars(select(AuditEntry))
    assert (audit.action, audit.entity_id, audit.before["event_id"]) == ("dead_letter.redriven", letter["id"], envelope.id)


async def test_a_dead_metrics_entry_shows_its_lines_in_its_envelope(client, auth, bus: Bus) -> None:
    """Line protocol travels beside the envelope's JSON (envelope.py): the dead letter shows it in the payload."""
    envelope = Envelope(type=METRICS_RECEIVED, source="telegraf", payload={"lines": "cpu x=1 1", "count": 1})
    await bus.dead_letter(METRICS_INGESTED, "metrics-writer", DeadLetter("1-0", envelope.to_entry(), "conflict"),
                          ack=False)
    page = await client.get(f"/api/v1/dead-letters/{METRICS_INGESTED.name}", headers=auth(Role.admin))
    (letter,) = page.json()["items"]
    assert (letter["envelope"]["payload"], letter["raw"]) == ({"lines": "cpu x=1 1", "count": 1}, {})


async def test_dead_letters_need_an_admin_and_known_names(client, auth) -> None:
    admin = auth(Role.admin)
    assert (await client.get("/api/v1/dead-letters", headers=auth(Role.operator))).status_code == 403
    assert (await client.get("/api/v1/dead-letters/aiops:nope", headers=admin)).status_code == 404
    for bad in ("not-an-id", "1-2-3"):
        assert (await client.get(f"/api/v1/dead-letters/{ALERTS}/{bad}", headers=admin)).status_code == 422, bad
    assert (await client.get(f"/api/v1/dead-letters/{ALERTS}/5-0", headers=admin)).status_code == 404
    assert (await client.post(f"/api/v1/dead-letters/{ALERTS}/5-0/redrive", headers=admin)).status_code == 404


async def test_an_entry_id_past_64_bits_is_422_naming_it(client, auth) -> None:
    admin, big = auth(Role.admin), "18446744073709551616-0"  # 2^64: Redis refuses it as an id
    for url, params in ((f"/api/v1/dead-letters/{ALERTS}/{big}", None),
                        (f"/api/v1/dead-letters/{ALERTS}/0-{big.split('-')[0]}/redrive", None),
                        (f"/api/v1/dead-letters/{ALERTS}", {"before": big})):
        answer = await (client.post(url, headers=admin) if url.endswith("redrive") else
                        client.get(url, headers=admin, params=params))
        assert answer.status_code == 422, url
        (error,) = answer.json()["detail"]
        assert error["loc"][-1] in ("entry_id", "before") and "18446744073709551615" in error["msg"]
    largest = await client.get(f"/api/v1/dead-letters/{ALERTS}/18446744073709551615-18446744073709551615", headers=admin)
    assert largest.status_code == 404
