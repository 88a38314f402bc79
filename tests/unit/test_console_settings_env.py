"""The console's settings from the environment: a typo'd SITEWATCH_* variable is refused with
the nearest setting named, a bad value with the variable and what it expects, secrets masked;
the edge's, demo's and training's variables are left alone."""

from __future__ import annotations

import pytest

from sitewatch.console.settings_env import SettingsProblem, settings_from_env


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for var in list(os.environ):
        if var.startswith("SITEWATCH_"):
            monkeypatch.delenv(var)


def test_a_typo_is_refused_with_the_setting_it_meant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITEWATCH_DATABSE_URL", "sqlite:///x.db")
    with pytest.raises(SettingsProblem) as got:
        settings_from_env()
    assert got.value.lines == [
        "SITEWATCH_DATABSE_URL is not a console setting: did you mean SITEWATCH_DATABASE_URL? "
        "(remove or rename it)"
    ]


def test_a_bad_value_names_its_variable_and_hides_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITEWATCH_MQTT_PORT", "abc")
    monkeypatch.setenv("SITEWATCH_METRICS_TOKEN", "short-secret")
    with pytest.raises(SettingsProblem) as got:
        settings_from_env()
    port, token = got.value.lines
    assert port.startswith("SITEWATCH_MQTT_PORT='abc': ") and "integer" in port
    assert token.startswith("SITEWATCH_METRICS_TOKEN=***: ") and "short-secret" not in token


def test_other_programs_variables_pass_and_good_values_are_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for var in ("SITEWATCH_EDGE_MQTT_PASSWORD", "SITEWATCH_SHARED", "SITEWATCH_BUILD"):
        monkeypatch.setenv(var, "x")
    monkeypatch.setenv("SITEWATCH_MQTT_PORT", "1884")
    assert settings_from_env().mqtt_port == 1884
