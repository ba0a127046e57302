"""Masking turns obvious variables into <*> and leaves constant-looking tokens alone."""

import pytest

from aiops_worker.logs.masking import Masker

MASKER = Masker.default()


@pytest.mark.parametrize(("raw", "masked"), [
    ("PacketResponder 1 for block blk_-6952295868487656571 terminating",
     "PacketResponder <*> for block <*> terminating"),
    ("src: /10.251.30.6:33145 dest: /10.251.30.6:50010", "src: <*> dest: <*>"),
    ("Old: msra-sa-41/10.190.173.170:9000 New: msra-sa-41:9000", "Old: <*> New: <*>"),
    ("Resolved MSRA-SA-39.fareast.corp.microsoft.com to x", "Resolved <*> to x"),
    ("Addr: 2607:f140:6000:8:c6b3:1ff:fecd:467f", "Addr: <*>"),
    ("Addr: fe80::1ff:fecd:467f", "Addr: <*>"),
    ("BSSID 5c:50:15:36:bc:03", "BSSID <*>"),
    ("see http://wiki.apache.org/hadoop/NoRouteToHost.", "see <*>."),
    ("mail bob.smith@example.org now", "mail <*> now"),
    ("id 123e4567-e89b-12d3-a456-426614174000", "id <*>"),
    ("workerEnv.init() ok /etc/httpd/conf/workers2.properties", "workerEnv.init() ok <*>"),
    ("connection from 1.2.3.4 () at Sat Jul  9 22:53:22 2005", "connection from <*> () at <*>"),
    ("took 12ms, read 64MB", "took <*>, read <*>"),
    ("flags=0x1, uid=10037, overlap:false, ws=null", "flags=<*>, uid=<*>, overlap:<*>, ws=<*>"),
    ("started 2024-01-02T03:04:05.123Z", "started <*>"),
    ("for [DFSClient_NONMAPREDUCE_1537864556_1] job_1445144423722_0020", "for [<*>] <*>"),
    ("generating core.3362 jetty-6.1.26 CPU#0", "generating core.<*> jetty-<*> CPU#<*>"),
    ("hex 9f4ef63 mask=ffffffff", "hex <*> mask=<*>"),
    # host names with any top-level domain, host:port, dotted hosts with a port, property keys
    ("via relay.campus.example.ac.kr:5070 open", "via <*> open"),
    ("for 12-34-56-78.dsl.isp.de [1.2.3.4] failed", "for <*> [<*>] failed"),
    ("reached www.example.com. ok", "reached <*>. ok"),
    ("connect mesh.corp:8080 done", "connect <*> done"),
    ("environment:vm.vendor=Acme done", "environment:<*>=<*> done"),
])
def test_masks_variables(raw: str, masked: str) -> None:
    assert MASKER.mask(raw) == masked


@pytest.mark.parametrize(("raw", "masked"), [
    ("interface ee0 t761 BIOS-e820: facade", "interface ee0 t761 BIOS-e820: facade"),
    ("ContAlloc:12 NameSystem.addStoredBlock: x", "ContAlloc:<*> NameSystem.addStoredBlock: x"),
    ("IOThunderboltSwitch<0>::listenerCallback", "IOThunderboltSwitch<<*>>::listenerCallback"),
    ("state.clipTopAmount:180, i:0", "state.clipTopAmount:<*>, i:<*>"),
    ("load util.py jquery.min.js libdispatch.dylib rpc.statd", "load util.py jquery.min.js libdispatch.dylib rpc.statd"),
    ("maps.isEmpty=true java.io.IOException: com.apple.xpc.activity", "maps.isEmpty=<*> java.io.IOException: com.apple.xpc.activity"),
])
def test_keeps_constant_tokens(raw: str, masked: str) -> None:
    assert MASKER.mask(raw) == masked


def test_custom_rules() -> None:
    masker = Masker.from_rules((("ticket", r"TICKET-\d+"),))
    assert masker.mask("closed TICKET-42 and 42") == "closed <*> and 42"
