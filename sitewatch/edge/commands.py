"""Config changes from the console: check who sent them, validate, write in place, apply.

:func:`obey` is what the worker calls: the command gate (:mod:`sitewatch.edge.command_gate`)
first, then :func:`apply_command`, which trusts its caller to have checked the signature.

A ``ConfigCommand`` carries a camera's complete zone list (and optional rule overrides); a
``CameraCommand`` adds, edits (name, stream URLs, detect fps, input size, head and coarse looks)
or removes a camera. Either is made against a config version and is refused, with nothing
changed, when it was made against another version, names a camera that is not (or, to add,
already is) there, when ``configs/cameras.yaml`` no longer reads as the config the edge runs
(edited by hand since), or when the result does not validate as a whole config (the same checks
as ``sitewatch validate-config``) or fails the worker's own check. Otherwise the file is edited
in place (its comments and layout kept, :mod:`sitewatch.edge.config.roundtrip`) and written
atomically with its previous copy as ``.prev``, and the version goes up by one
(docs/design/config-commands.md)."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sitewatch.contract import messages as m
from sitewatch.edge.atomic import write_atomic
from sitewatch.edge.command_gate import CommandGate
from sitewatch.edge.config.errors import ConfigError
from sitewatch.edge.config.load import parse_config
from sitewatch.edge.config.roundtrip import (
    Document,
    edit_text,
    merge_into,
    node,
    set_items,
    set_value,
)
from sitewatch.edge.config.schema import SiteConfig

Check = Callable[[SiteConfig], str | None]
"""The worker's own check of a new config (e.g. an input size its model takes): why not, or
None."""


@dataclass(frozen=True)
class Outcome:
    config: SiteConfig
    """The config now in force (the new one when applied)."""
    applied: bool
    reason: str | None


def obey(
    gate: CommandGate, config: SiteConfig, path: Path, cmd: m.Command, check: Check | None = None
) -> Outcome:
    """Apply ``cmd`` when ``gate`` takes it (signed, fresh, in order, new); record it if applied.

    A command the gate refuses touches no file but the gate's own state file, and then only
    when it was signed by the console (see :mod:`sitewatch.edge.command_gate`).
    """
    reason = gate.take(cmd)
    if reason is not None:
        return Outcome(config, False, reason)
    out = apply_command(config, path, cmd, check)
    if out.applied:
        gate.record(cmd, out.config.version)
    return out


def apply_command(
    config: SiteConfig, path: Path, cmd: m.Command, check: Check | None = None
) -> Outcome:
    """Apply ``cmd`` to ``config`` (loaded from ``path``) or say why not."""
    reason = _mismatch(config, cmd)
    if reason is not None:
        return Outcome(config, False, reason)
    try:
        text = path.read_text(encoding="utf-8")
        running, _ = parse_config(text, path)
        if running != config:
            return Outcome(
                config,
                False,
                f"expected {path} to hold the config this edge runs (version {config.version}), "
                "got a file that reads differently: it was edited since the edge started; "
                "restart the edge to run the file (or undo the edit), then make the change again",
            )
        new_text = edit_text(text, lambda doc: _edit(doc, config, cmd))
        new, _warnings = parse_config(new_text, path)
    except ConfigError as exc:
        return Outcome(config, False, "; ".join(_short(p) for p in exc.problems))
    except (ValidationError, ValueError, OSError) as exc:
        return Outcome(config, False, f"{type(exc).__name__}: {exc}")
    problem = check(new) if check is not None else None
    if problem is not None:
        return Outcome(config, False, problem)
    try:
        write_atomic(path.with_name(path.name + ".prev"), text.encode("utf-8"))
        write_atomic(path, new_text.encode("utf-8"))
    except OSError as exc:
        return Outcome(config, False, f"expected to write {path}, got {exc}: free disk space")
    return Outcome(new, True, None)


def _mismatch(config: SiteConfig, cmd: m.Command) -> str | None:
    """Why ``cmd`` does not fit ``config`` at all (site, base version, camera), or None."""
    current = str(config.version)
    if cmd.site_id != config.site.id:
        return f"this edge serves site {config.site.id!r}, the command is for {cmd.site_id!r}"
    if cmd.base_version != current:
        return (
            f"the change was made against config version {cmd.base_version}, the edge runs "
            f"{current}: reload the camera and make the change again"
        )
    ids = [c.id for c in config.cameras]
    adding = isinstance(cmd, m.CameraCommand) and cmd.action == "add"
    if adding and cmd.camera_id in ids:
        return (
            f"camera {cmd.camera_id!r} is already on this site ({ids}): edit it, or pick a new id"
        )
    if not adding and cmd.camera_id not in ids:
        return f"unknown camera {cmd.camera_id!r}; this site has {ids}"
    if isinstance(cmd, m.CameraCommand) and cmd.action == "remove" and len(ids) == 1:
        return (
            f"expected a site to keep at least one camera, got the removal of its last one "
            f"({cmd.camera_id!r}): add the new camera first, or stop the edge"
        )
    return None


def _edit(doc: Document, config: SiteConfig, cmd: m.Command) -> None:
    """``cmd``'s change to the file's document: the version and one camera's entries."""
    set_value(doc, "version", config.version + 1)
    cameras = doc["cameras"]
    at = next((i for i, c in enumerate(cameras) if c.get("id") == cmd.camera_id), None)
    if isinstance(cmd, m.ConfigCommand):
        assert at is not None  # _mismatch checked it
        camera = cameras[at]
        zones = [_zone(z) for z in cmd.zones]
        if "zones" in camera:
            set_items(camera["zones"], zones)
        else:
            set_value(camera, "zones", zones)
        if cmd.rules:
            camera.setdefault("rules", {})
            merge_into(camera["rules"], {str(k): v for k, v in cmd.rules.items()})
    elif cmd.action == "remove":
        del cameras[at]
    elif cmd.action == "add":
        cameras.append(node({"id": cmd.camera_id}))
        assert cmd.camera is not None
        _settings(cameras[-1], cmd.camera, None)
    else:
        assert at is not None and cmd.camera is not None
        _settings(cameras[at], cmd.camera, config.camera(cmd.camera_id))


def _settings(camera: MutableMapping[str, Any], spec: m.CameraSpec, old: Any) -> None:
    """The console's camera fields into a camera's entry; a masked URL keeps the old one."""

    def url(new: str | None, before: str | None) -> str | None:
        return before if new is not None and before and new == m.masked_url(before) else new

    set_value(camera, "name", spec.name or None)
    set_value(camera, "detect", url(spec.detect, old.detect if old else None))
    set_value(camera, "record", url(spec.record, old.record if old else None))
    fps = spec.detect_fps
    set_value(camera, "detect_fps", int(fps) if fps is not None and fps.is_integer() else fps)
    set_value(camera, "input_size", spec.input_size)
    set_value(camera, "head_look", spec.head_look)
    set_value(camera, "coarse_look", spec.coarse_look)
    set_value(camera, "tile_look", spec.tile_look)


def _zone(zone: m.ZoneSpec) -> dict[str, Any]:
    data = zone.model_dump(mode="json")
    if not data["name"]:
        del data["name"]
    return data


def _short(problem: Any) -> str:
    where = getattr(problem, "path", "")
    return f"{where}: expected {problem.expected}, got {problem.got}"
