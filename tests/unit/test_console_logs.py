"""The console's log configuration: JSON lines that parse and carry their fields, the text
line as the edge writes it, one level and format for uvicorn's loggers too."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from sitewatch.console.logs import (
    TEXT_FORMAT,
    UVICORN_LOGGERS,
    LogFormat,
    configure,
    log_config,
)
from sitewatch.console.settings_env import SettingsProblem, settings_from_env


@pytest.fixture(autouse=True)
def logging_put_back() -> Iterator[None]:
    """The root's and uvicorn's loggers as they were before the test configured them."""
    loggers = [logging.getLogger(name) for name in ("", *UVICORN_LOGGERS)]
    saved = [(x, x.handlers[:], x.level, x.propagate) for x in loggers]
    yield
    for logger, handlers, level, propagate in saved:
        logger.handlers[:], logger.propagate = handlers, propagate
        logger.setLevel(level)


def test_json_lines_parse_and_carry_time_level_logger_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure("INFO", "json")
    log = logging.getLogger("sitewatch.console.test")
    log.info("ingest stored %d alerts from %s", 3, "北区")
    log.debug("not written at INFO")
    try:
        raise ValueError('bad "quote"\nand a newline')
    except ValueError:
        log.exception("failed on a message")
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "1.2.3.4:5", "GET", "/", "1.1", 200
    )
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3, lines  # one line per record, the traceback's newlines escaped
    first, second, access = (json.loads(x) for x in lines)
    assert set(first) == {"time", "level", "logger", "message"}
    assert first["level"] == "INFO" and first["logger"] == "sitewatch.console.test"
    assert first["message"] == "ingest stored 3 alerts from 北区"
    at = datetime.fromisoformat(first["time"])
    assert at.utcoffset() == timedelta(0) and first["time"].endswith("+00:00")
    assert second["level"] == "ERROR" and second["message"] == "failed on a message"
    assert second["exception"].startswith("Traceback") and "ValueError: bad" in second["exception"]
    assert (
        access["logger"] == "uvicorn.access"
        and access["message"] == '1.2.3.4:5 - "GET / HTTP/1.1" 200'
    )


def test_text_lines_are_the_edges_format(capsys: pytest.CaptureFixture[str]) -> None:
    configure("WARNING", "text")
    logging.getLogger("sitewatch.console.test").info("below the level")
    logging.getLogger("sitewatch.console.test").warning("disk at %d%%", 95)
    logging.getLogger("uvicorn.error").error("port in use")
    lines = capsys.readouterr().err.splitlines()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert len(lines) == 2, lines
    assert re.fullmatch(stamp + r" WARNING sitewatch\.console\.test: disk at 95%", lines[0])
    assert re.fullmatch(stamp + r" ERROR uvicorn\.error: port in use", lines[1])
    assert TEXT_FORMAT == "%(asctime)s %(levelname)s %(name)s: %(message)s"


def test_uvicorn_gets_the_same_config_and_no_handlers_of_its_own() -> None:
    config = log_config("DEBUG", "json")
    assert config["disable_existing_loggers"] is False
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        assert config["loggers"][name] == {"level": "DEBUG", "handlers": [], "propagate": True}
    with pytest.raises(ValueError, match="expected log format 'text' or 'json', got 'xml'"):
        log_config("INFO", "xml")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("env", "level", "fmt"),
    [
        ({}, "INFO", "text"),
        ({"SITEWATCH_LOG_LEVEL": "DEBUG", "SITEWATCH_LOG_FORMAT": "json"}, "DEBUG", "json"),
    ],
)
def test_settings_default_to_info_text_and_read_the_environment(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], level: str, fmt: LogFormat
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = settings_from_env(env)
    assert (settings.log_level, settings.log_format) == (level, fmt)


def test_a_level_or_format_not_offered_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {"SITEWATCH_LOG_LEVEL": "verbose", "SITEWATCH_LOG_FORMAT": "xml"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsProblem) as caught:
        settings_from_env(env)
    lines = caught.value.lines
    assert any(x.startswith("SITEWATCH_LOG_LEVEL='verbose'") and "DEBUG" in x for x in lines)
    assert any(x.startswith("SITEWATCH_LOG_FORMAT='xml'") and "json" in x for x in lines)


def test_uvicorn_configured_with_it_writes_its_logs_in_the_same_form(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """uvicorn applies ``log_config`` in its Config (as ``uvicorn.run`` does), no server."""
    import uvicorn

    uvicorn.Config("sitewatch.console.app:create_app", log_config=configure("INFO", "json"))
    assert logging.getLogger("uvicorn.access").handlers == []
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    line = json.loads(capsys.readouterr().err)
    assert (line["logger"], line["message"]) == ("uvicorn.error", "Started server process [42]")
