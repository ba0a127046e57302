"""The SNMP poller against a real agent (snmpd on a loopback high port): v2c and v3, the IF-MIB and
HOST-RESOURCES readings, counter rates (wrap, reset, agent restart) and failures named by stage."""


import pytest

from aiops_contracts.outbound import OutboundPolicy
from aiops_contracts.pollers import poller_settings
from aiops_contracts.sources import SourceKind
from aiops_worker.producers import snmp
from aiops_worker.producers.checks import check_connection
from aiops_worker.producers.poller import CheckFailed, PolledSource
from aiops_worker.producers.snmp import SnmpPoller
from aiops_worker.producers.snmp_oids import CounterRates, oid_name


def poller(agent, config: dict | None = None, credentials: dict | None = None, target: str = "127.0.0.1"):
    settings = poller_settings("snmp", {"port": agent.port, **(config or {})},
                               credentials if credentials is not None else {"community": agent.community})
    return SnmpPoller(PolledSource("id-1", "core-sw", SourceKind.snmp, target, 60.0, {"site": "par1"}, settings))


def v3(agent, auth_key: str | None = None) -> tuple[dict, dict]:
    config = {"version": "3", "username": agent.v3_user, "auth_protocol": "SHA", "priv_protocol": "AES"}
    return config, {"auth_key": auth_key or agent.v3_auth_key, "priv_key": agent.v3_priv_key}


def measurements(lines: list[str]) -> set[str]:
    return {line.split(",", 1)[0] for line in lines}


async def test_v2c_poll_reads_uptime_interfaces_and_storage(snmp_agent) -> None:
    result = await poller(snmp_agent).poll()
    assert measurements(result.lines) >= {"snmp", "snmp_interface", "snmp_storage"}
    uptime = next(line for line in result.lines if line.startswith("snmp,"))
    assert "site=par1" in uptime and "source=core-sw" in uptime and "uptime_s=" in uptime
    assert any("interface=lo" in line and "oper_up=1i" in line for line in result.lines)
    assert any("storage=Physical\\ memory" in line and "used_percent=" in line for line in result.lines)


async def test_interface_counters_become_rates_on_the_second_poll(snmp_agent) -> None:
    snmp = poller(snmp_agent)
    first = await snmp.poll()
    assert not any("bytes_per_s" in line for line in first.lines)  # nothing to compare with yet
    second = await snmp.poll()
    loopback = next(line for line in second.lines if "interface=lo" in line)
    assert "in_bytes_per_s=" in loopback and "out_errors_per_s=" in loopback


async def test_v3_with_auth_and_privacy(snmp_agent) -> None:
    config, credentials = v3(snmp_agent)
    result = await poller(snmp_agent, config, credentials).poll()
    assert "snmp_interface" in measurements(result.lines)


async def test_failures_say_their_stage(snmp_agent) -> None:
    config, credentials = v3(snmp_agent, auth_key="not-the-auth-key")
    with pytest.raises(CheckFailed) as wrong_key:
        await poller(snmp_agent, config, credentials).check()
    assert wrong_key.value.stage == "auth"
    silent = await check_connection(poller(snmp_agent, {"request_timeout_s": 0.2, "retries": 0},
                                           {"community": "wrong"}))
    assert [(s.stage, s.ok) for s in silent.steps] == [("dns", True), ("timeout", False)]
    assert "wrong community" in silent.steps[-1].message
    unknown = await check_connection(poller(snmp_agent, target="no-such-host.invalid"))
    assert [(s.stage, s.ok) for s in unknown.steps] == [("dns", False)]
    good = await check_connection(poller(snmp_agent))
    assert good.ok and [s.stage for s in good.steps] == ["dns", "protocol"]


async def test_the_agents_address_is_vetted_by_the_outbound_policy(snmp_agent) -> None:
    rebound, vetted = poller(snmp_agent, target="agent.example.test"), poller(snmp_agent, target="agent.example.test")
    rebound.policy, vetted.policy = resolving_to("169.254.169.254"), resolving_to("127.0.0.1")
    with pytest.raises(CheckFailed) as refused:
        await rebound.poll()
    assert refused.value.stage == "dns" and "169.254.169.254" in refused.value.message
    assert "host=agent.example.test" in (await vetted.poll()).lines[0]
    metadata = poller(snmp_agent, target="metadata.google.internal")
    tested = await check_connection(metadata)
    assert [(s.stage, s.ok) for s in tested.steps] == [("dns", False)] and "metadata" in tested.steps[0].message
    for each in (rebound, vetted, metadata):
        await each.aclose()


def resolving_to(address: str) -> OutboundPolicy:
    async def resolve(host: str, port: int) -> list[str]:
        return [address]

    return OutboundPolicy(resolve=resolve)


async def test_a_restarted_agent_gives_no_rate_until_the_next_poll(snmp_agent) -> None:
    snmp = poller(snmp_agent)
    await snmp.poll()
    snmp.rates.observe_uptime(10**9)  # as if the previous poll had seen a far longer uptime
    after_restart = await snmp.poll()
    assert not any("bytes_per_s" in line for line in after_restart.lines)
    assert any("bytes_per_s" in line for line in (await snmp.poll()).lines)


def test_counter_rates_handle_wrap_reset_and_restart() -> None:
    rates = CounterRates()
    assert rates.observe_uptime(100.0)
    assert rates.rate("in", 2**32 - 1000, 32, 100.0) is None
    assert rates.rate("in", 1000, 32, 110.0) == 200.0  # wrapped: 2000 counts in 10 s
    assert rates.rate("hc", 5000, 64, 110.0) is None
    assert rates.rate("hc", 100, 64, 120.0) is None  # a 64-bit counter going back was reset, not wrapped
    assert rates.rate("hc", 600, 64, 130.0) == 50.0
    assert not rates.observe_uptime(5.0)  # restarted: nothing to compare with
    assert rates.rate("hc", 700, 64, 15.0) is None


def test_oid_names_come_from_the_built_in_table() -> None:
    assert oid_name("1.3.6.1.2.1.1.3.0") == "sysUpTime"
    assert oid_name("1.3.6.1.2.1.2.2.1.8.3") == "if.oper_status.3"
    assert oid_name("1.3.6.1.4.1.99.1") == "1.3.6.1.4.1.99.1"




async def test_engines_are_shared_per_credentials_and_dropped_with_their_last_poller(snmp_agent) -> None:
    first, same = poller(snmp_agent, *v3(snmp_agent)), poller(snmp_agent, *v3(snmp_agent))
    other = poller(snmp_agent, *v3(snmp_agent, auth_key="another-auth-key"))
    assert first.engine is same.engine and other.engine is not first.engine
    key, other_key = first._engine_key, other._engine_key
    users = snmp._engines[key].users  # 2, or more when a poller of another test still holds it
    await first.aclose()
    await first.aclose()  # twice: released once
    assert snmp._engines[key].users == users - 1 and snmp._engines[key].engine is same.engine
    await other.aclose()
    assert other_key not in snmp._engines
    await same.aclose()
