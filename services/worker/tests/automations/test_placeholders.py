from aiops_worker.automations.placeholders import fill_extra_vars


def test_jinja_and_shell_variables_stay_as_written_and_facts_are_filled():
    """What the API accepts (AutomationRuleWrite) the worker leaves alone: "{{host}}" is Jinja, "${host}" a shell
    variable, "{hostname}" names no fact; "{host}" is the event's host."""
    extra_vars = {"jinja": "{{host}} {{title}}", "shell": "${host}/x", "other": "/srv/{hostname}", "dir": "/d/{host}"}
    filled = fill_extra_vars(extra_vars, {"host": "web-1", "title": "$(reboot)"})
    assert filled == {**extra_vars, "dir": "/d/web-1"}
