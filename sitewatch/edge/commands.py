"""Config changes from the console: check who sent them, validate, write atomically, apply.

:func:`obey` is what the worker calls: the command gate (:mod:`sitewatch.edge.command_gate`)
first, then :func:`apply_command`, which trusts its caller to have checked the signature.

A ``ConfigCommand`` carries a camera's complete zone list (and optional rule overrides) made
against a config version. The change is refused, and nothing changes, when it was made against
another version, names an unknown camera, or does not validate as a whole config (the same
checks as ``sitewatch validate-config``). Otherwise ``configs/cameras.yaml`` is rewritten
atomically with its previous copy kept as ``.prev``, the version goes up by one, and only the
changed camera is reconfigured: the other cameras never stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sitewatch.contract import messages as m
from sitewatch.edge.command_gate import CommandGate
from sitewatch.edge.config.errors import ConfigError
from sitewatch.edge.config.load import config_to_data, dump_config, parse_config
from sitewatch.edge.config.schema import SiteConfig, deep_merge


@dataclass(frozen=True)
class Outcome:
    config: SiteConfig
    """The config now in force (the new one when applied)."""
    applied: bool
    reason: str | None


def obey(gate: CommandGate, config: SiteConfig, path: Path, cmd: m.ConfigCommand) -> Outcome:
    """Apply ``cmd`` when ``gate`` takes it (signed, fresh, in order, new); record it if applied.

    A command the gate refuses touches no file but the gate's own state file, and then only
    when it was signed by the console (see :mod:`sitewatch.edge.command_gate`).
    """
    reason = gate.take(cmd)
    if reason is not None:
        return Outcome(config, False, reason)
    out = apply_command(config, path, cmd)
    if out.applied:
        gate.record(cmd, out.config.version)
    return out


def apply_command(config: SiteConfig, path: Path, cmd: m.ConfigCommand) -> Outcome:
    """Apply ``cmd`` to ``config`` (loaded from ``path``) or say why not."""
    current = str(config.version)
    if cmd.site_id != config.site.id:
        return Outcome(
            config,
            False,
            f"this edge serves site {config.site.id!r}, the command is for {cmd.site_id!r}",
        )
    if cmd.base_version != current:
        return Outcome(
            config,
            False,
            f"the change was made against config version "
            f"{cmd.base_version}, the edge runs {current}: reload "
            "the camera and make the change again",
        )
    ids = [c.id for c in config.cameras]
    if cmd.camera_id not in ids:
        return Outcome(config, False, f"unknown camera {cmd.camera_id!r}; this site has {ids}")
    data = config_to_data(config, path.absolute().parent)
    data["version"] = config.version + 1
    camera = data["cameras"][ids.index(cmd.camera_id)]
    camera["zones"] = [z.model_dump(mode="json") for z in cmd.zones]
    if cmd.rules:
        camera["rules"] = deep_merge(camera.get("rules") or {}, dict(cmd.rules))
    try:
        new, _warnings = parse_config(_yaml(data), path)
        dump_config(new, path)
    except ConfigError as exc:
        return Outcome(config, False, "; ".join(_short(p) for p in exc.problems))
    except (ValidationError, ValueError, OSError) as exc:
        return Outcome(config, False, f"{type(exc).__name__}: {exc}")
    return Outcome(new, True, None)


def _yaml(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _short(problem: Any) -> str:
    where = getattr(problem, "path", "")
    return f"{where}: expected {problem.expected}, got {problem.got}"
