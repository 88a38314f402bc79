"""The console's settings read from the environment, refused with one line per problem: an
unknown ``SITEWATCH_*`` variable (a typo would otherwise be ignored and its default used; the
nearest setting is named) or a value a setting does not take (the variable, the value as given,
what is expected). Variables of the other SiteWatch programs are left alone."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping

from pydantic import ValidationError

from sitewatch.console.settings import Settings

PREFIX = "SITEWATCH_"
OTHERS = ("SITEWATCH_EDGE_", "SITEWATCH_SHARED", "SITEWATCH_MODEL", "SITEWATCH_BUILD",
          "SITEWATCH_DEMO_", "SITEWATCH_IMAGE_")  # fmt: skip
"""Prefixes of variables that belong to the edge, the demo, training or the tests."""
SECRET_WORDS = ("PASSWORD", "TOKEN", "SECRET", "KEY", "AMQP_URLS")  # AMQP URLs hold passwords


class SettingsProblem(ValueError):
    """The environment's settings cannot be used; ``lines`` says each problem and what to do."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def _names() -> dict[str, str]:
    return {PREFIX + name.upper(): name for name in Settings.model_fields}


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A line for each ``SITEWATCH_*`` variable that is no setting of the console."""
    known = _names()
    lines = []
    for var in sorted(environ):
        if not var.startswith(PREFIX) or var in known or var.startswith(OTHERS):
            continue
        near = difflib.get_close_matches(var, list(known), n=1, cutoff=0.75)
        hint = f"did you mean {near[0]}?" if near else "see sitewatch/console/settings.py"
        lines.append(f"{var} is not a console setting: {hint} (remove or rename it)")
    return lines


def _shown(var: str, value: object) -> str:
    if any(word in var for word in SECRET_WORDS):
        return "***"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """:class:`Settings` from ``environ`` (default: this process's), or :class:`SettingsProblem`."""
    env = os.environ if environ is None else environ
    lines = unknown_variables(env)
    try:
        settings = Settings()
    except ValidationError as exc:
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            var = PREFIX + field.upper()
            given = env.get(var, err.get("input"))
            lines.append(f"{var}={_shown(var, given)}: {err['msg']}; fix or unset it")
        settings = None
    if lines or settings is None:
        raise SettingsProblem(lines)
    return settings
