"""Running one playbook for real through ansible-runner, in a temporary private data directory of its own,
with a timeout, check mode, the captured output, and the changed/failed task counts from the play recap.
Extra vars carry untrusted text (alert titles, labels, host names): they reach Ansible as a YAML file whose every
string is tagged !unsafe, so "{{ lookup('pipe', ...) }}" in an alert stays text and is never templated."""

import asyncio
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ansible_runner
import yaml

OUTPUT_MAX_CHARS = 100_000  # the tail of a longer output is kept
# ansible-playbook of this environment (a virtualenv's bin is not always on PATH), else the one on PATH.
_BESIDE = Path(sys.executable).with_name("ansible-playbook")
ANSIBLE_PLAYBOOK = str(_BESIDE) if _BESIDE.exists() else "ansible-playbook"


@dataclass(frozen=True)
class PlaybookRun:
    playbook: Path
    hosts: list[str]
    connection: str  # ansible_connection of every host ("local" on this machine, "ssh" on the fleet)
    extra_vars: dict[str, Any]
    timeout_s: float
    check: bool = False  # --check: report what would change, change nothing


@dataclass(frozen=True)
class PlaybookResult:
    status: str  # successful | failed | timeout | canceled
    rc: int | None
    changed: int
    failed: int
    output: str

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.failed == 0


async def run_playbook(run: PlaybookRun, work_dir: str | None = None) -> PlaybookResult:
    return await asyncio.to_thread(_run, run, work_dir)


def _run(run: PlaybookRun, work_dir: str | None) -> PlaybookResult:
    if not run.playbook.is_file():
        return _refused(f"playbook {run.playbook.name!r} not found in {run.playbook.parent} "
                        "(AUTOMATIONS_PLAYBOOKS_DIR): the rule names a file that is not there")
    private = Path(tempfile.mkdtemp(prefix="aiops-run-", dir=work_dir or None))
    try:
        (private / "project").mkdir()
        try:
            shutil.copy(run.playbook, private / "project" / run.playbook.name)
        except OSError as exc:
            return _refused(f"playbook {run.playbook.name!r} in {run.playbook.parent} could not be read: "
                            f"{exc.strerror or exc!r}")
        host_vars: dict[str, str] = {"ansible_connection": run.connection}
        if run.connection == "local":  # modules run by this Python, not whatever interpreter discovery finds
            host_vars["ansible_python_interpreter"] = sys.executable
        inventory = {"all": {"hosts": {h: host_vars for h in run.hosts}}}
        playbook = shlex.quote(str(private / "project" / run.playbook.name))
        extra = private / "extravars.yml"
        extra.write_text(unsafe_yaml(run.extra_vars), encoding="utf-8")
        cmdline = f"{playbook} -e {shlex.quote('@' + str(extra))}" + (" --check" if run.check else "")
        result = ansible_runner.run(
            private_data_dir=str(private), inventory=inventory, cmdline=cmdline, timeout=int(max(1, run.timeout_s)),
            quiet=True, binary=ANSIBLE_PLAYBOOK, envvars={"ANSIBLE_HOME": str(private / ".ansible"), "ANSIBLE_LOCAL_TEMP": str(private / "tmp"),
                                 "ANSIBLE_REMOTE_TEMP": str(private / "tmp"), "ANSIBLE_NOCOLOR": "1"},
            settings={"suppress_ansible_output": True})
        stats = result.stats or {}
        output = result.stdout.read() if result.stdout else ""
        return PlaybookResult(status=result.status, rc=result.rc, changed=_total(stats, "changed"),
                              failed=_total(stats, "failures") + _total(stats, "dark"),
                              output=output[-OUTPUT_MAX_CHARS:])
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _refused(reason: str) -> PlaybookResult:
    """A run that could not start its playbook: failed, with the reason as its output."""
    return PlaybookResult(status="failed", rc=None, changed=0, failed=1, output=reason)


class _UnsafeDumper(yaml.SafeDumper):
    """Every string (keys included) as `!unsafe`: Ansible keeps it as text and never templates it."""


_UnsafeDumper.add_representer(str, lambda dumper, text: dumper.represent_scalar("!unsafe", text))


def unsafe_yaml(extra_vars: dict[str, Any]) -> str:
    return yaml.dump(extra_vars, Dumper=_UnsafeDumper, allow_unicode=False, sort_keys=False)


def _total(stats: dict[str, dict[str, int]], key: str) -> int:
    return sum((stats.get(key) or {}).values())
