"""CommonSettings refuses values that would break InfluxDB's HTTP requests, naming the setting, not the value."""

import pytest
from pydantic import ValidationError

from aiops_contracts.settings import CommonSettings


@pytest.mark.parametrize("token", ["abc\r\nX-Injected: 1", "ab\nc", "ab\rc", "abc\x00", "a\tbc", "abc\x7f"])
def test_an_influx_token_with_a_control_character_is_refused(token: str) -> None:
    with pytest.raises(ValidationError, match="INFLUX_TOKEN holds a control character") as refused:
        CommonSettings(influx_token=token, _env_file=None)
    assert "abc" not in str(refused.value) and "X-Injected" not in str(refused.value)


def test_an_influx_token_read_with_a_trailing_newline_loses_it_as_secret_files_do(monkeypatch) -> None:
    monkeypatch.setenv("INFLUX_TOKEN", "abc\n")
    assert CommonSettings(_env_file=None).influx_token == "abc"


@pytest.mark.parametrize("url", ["http://127.0.0.1:8086/in flux", "http://127.0.0.1:8086/a\r\nX-Injected: 1",
                                 "http://127.0.0.1:8086/influx\x00", "http://127.0.0.1\x01:8086"])
def test_an_influx_url_that_would_break_the_request_head_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="INFLUX_URL holds a control character or space"):
        CommonSettings(influx_url=url, _env_file=None)


def test_an_influx_url_read_with_a_trailing_newline_loses_it(monkeypatch) -> None:
    monkeypatch.setenv("INFLUX_URL", "http://127.0.0.1:8086/influx\n")
    assert CommonSettings(_env_file=None).influx_url == "http://127.0.0.1:8086/influx"
