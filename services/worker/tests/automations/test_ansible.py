"""Extra vars reach a real playbook as text: Jinja planted in an alert's title or labels is never templated."""

from pathlib import Path

from aiops_worker.automations.ansible import PlaybookRun, run_playbook

PLANTED = "{{ lookup('pipe', 'echo PWNED') }}"
PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - debug:
        msg: "dir={{ cleanup_dir }} title={{ aiops_event.title }} label={{ aiops_event.labels['{{ x }}'] }} n={{ n + 1 }}"
"""


async def test_planted_jinja_in_extra_vars_stays_text(tmp_path: Path) -> None:
    playbook = tmp_path / "show.yml"
    playbook.write_text(PLAYBOOK)
    result = await run_playbook(PlaybookRun(
        playbook=playbook, hosts=["localhost"], connection="local", timeout_s=120, check=True,
        extra_vars={"cleanup_dir": f"/var/log/{PLANTED}", "n": 41,
                    "aiops_event": {"title": PLANTED, "labels": {"{{ x }}": PLANTED}}}))
    assert result.ok, result.output
    assert "PWNED" not in result.output.replace("echo PWNED", "")
    assert "dir=/var/log/{{ lookup('pipe', 'echo PWNED') }}" in result.output
    assert "n=42" in result.output  # numbers stay numbers
