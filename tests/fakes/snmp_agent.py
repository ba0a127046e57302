"""A real SNMP agent for tests: Debian's `snmpd` (net-snmp) on a loopback high port, with a v2c community and
a v3 user (SHA auth, AES privacy), serving this machine's own IF-MIB and HOST-RESOURCES-MIB. No MIB files are
loaded (the poller uses numeric OIDs); state lives in the test's directory."""

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

COMMUNITY = "aiops-test-community"
V3_USER, V3_AUTH_KEY, V3_PRIV_KEY = "aiopsuser", "aiops-auth-key", "aiops-priv-key"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class SnmpAgent:
    directory: Path
    ports: list[int] = field(default_factory=lambda: [free_udp_port()])
    process: subprocess.Popen | None = None
    community: str = COMMUNITY
    v3_user: str = V3_USER
    v3_auth_key: str = V3_AUTH_KEY
    v3_priv_key: str = V3_PRIV_KEY

    @property
    def port(self) -> int:
        return self.ports[0]

    def start(self, timeout_s: float = 15.0) -> "SnmpAgent":
        snmpd = shutil.which("snmpd") or "/usr/sbin/snmpd"
        assert Path(snmpd).exists(), "snmpd is missing: scripts/lib/setup.sh installs it (apt-get install snmpd)"
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "snmpd.conf"
        addresses = ",".join(f"udp:127.0.0.1:{port}" for port in self.ports)
        config.write_text(f"agentaddress {addresses}\nrocommunity {COMMUNITY} 127.0.0.1\n"
                          f'createUser {V3_USER} SHA "{V3_AUTH_KEY}" AES "{V3_PRIV_KEY}"\nrouser {V3_USER} priv\n')
        log = self.directory / "snmpd.log"
        env = {**os.environ, "MIBS": "", "MIBDIRS": str(self.directory), "SNMP_PERSISTENT_DIR": str(self.directory)}
        self.process = subprocess.Popen([snmpd, "-f", "-C", "-c", str(config), "-Lf", str(log),
                                         "-p", str(self.directory / "snmpd.pid")], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while not (log.exists() and "NET-SNMP version" in log.read_text()):
            assert self.process.poll() is None, log.read_text() if log.exists() else "snmpd exited"
            assert time.monotonic() < deadline, "snmpd did not start"
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
