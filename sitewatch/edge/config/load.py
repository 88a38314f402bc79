"""Read the edge config from YAML with line numbers in every problem; write it back atomically.

``load_config(path)`` is what the worker calls: it returns a :class:`SiteConfig` or raises
:class:`ConfigError` listing *every* problem (YAML syntax, duplicate keys, schema errors,
cross-field errors), each with file, line, key path, what was expected, what came and what to
do. Relative paths in the file are relative to the file's own folder. YAML times such as
``18:00`` are read as text, not as YAML 1.1 base-60 numbers.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sitewatch.contract.signing import SigningKeyError, load_key
from sitewatch.edge.atomic import write_atomic
from sitewatch.edge.config.checks import Finding, Loc, cross_check, format_loc
from sitewatch.edge.config.errors import ConfigError, ConfigProblem, finding_from_error
from sitewatch.edge.config.schema import SiteConfig, default_client_id

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "dump_config",
    "load_config",
    "load_config_with_warnings",
    "parse_config",
]

log = logging.getLogger(__name__)


class _Loader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1 base-60 numbers (``18:00`` stays the text "18:00")."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if not tag.endswith((":int", ":float"))]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def load_config(path: str | Path) -> SiteConfig:
    """The validated config in ``path``; warnings are logged. Raises :class:`ConfigError`,
    or ``OSError`` when the file cannot be read."""
    config, warnings = load_config_with_warnings(path)
    for warning in warnings:
        log.warning("%s", warning)
    return config


def load_config_with_warnings(path: str | Path) -> tuple[SiteConfig, list[ConfigProblem]]:
    """The validated config and its warnings (see ``sitewatch.edge.config.checks``)."""
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        got = f"byte {raw[exc.start]:#04x}, which is not UTF-8"
        hint = "Save the file as UTF-8 (a text editor's 'save with encoding')."
        raise ConfigError(
            [ConfigProblem(str(path), line, "(file)", "UTF-8 text", got, hint)]
        ) from None
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> tuple[SiteConfig, list[ConfigProblem]]:
    """Validate YAML ``text`` as if read from ``path`` (which names it and anchors relative
    paths). Raises :class:`ConfigError` with every error found."""
    file = str(path)
    try:
        data, lines, duplicates = _parse_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError([_syntax_problem(exc, text, file)]) from None
    problems = [_duplicate_problem(file, *duplicate) for duplicate in duplicates]
    origins = _default_origins(data)
    context = {"base_dir": path.absolute().parent}
    config: SiteConfig | None = None
    findings: list[Finding] = []
    try:
        config = SiteConfig.model_validate(data, context=context)
    except ValidationError as exc:
        findings += [finding_from_error(error) for error in exc.errors(include_url=False)]
    if config is not None:
        findings += cross_check(config)
        findings += file_checks(config)
    problems = sorted(
        [*problems, *_problems(findings, lines, origins, file)],
        key=lambda p: (p.severity != "error", p.line or 0),
    )
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity == "warning"]
    if errors or config is None:
        raise ConfigError(errors, warnings)
    return config, warnings


def file_checks(config: SiteConfig) -> list[Finding]:
    """Warnings that need the file system or the environment: missing files, unset variables."""
    found: list[Finding] = []
    files = [
        (("detector", "model"), config.detector.model),
        (("mqtt", "tls", "ca_file"), config.mqtt.tls.ca_file),
        (("mqtt", "tls", "certfile"), config.mqtt.tls.certfile),
        (("mqtt", "tls", "keyfile"), config.mqtt.tls.keyfile),
    ]
    for loc, file in files:
        if file is not None and not file.is_file():
            hint = "Fix the path (relative paths start at this file's folder) or add the file."
            found.append(Finding(loc, "an existing file", f"{file} (not found)", hint, "warning"))
    found += _trust_checks(config)
    for key in ("username_env", "password_env"):
        name = getattr(config.mqtt, key)
        if name and name not in os.environ:
            found.append(
                Finding(
                    ("mqtt", key),
                    f"the environment variable {name} to be set",
                    "it unset here",
                    "Set it in the worker's environment (systemd Environment=, docker -e).",
                    "warning",
                )
            )
    return found


def _trust_checks(config: SiteConfig) -> list[Finding]:
    """The edge's key file readable as a key when it exists (an absent one is made at start).
    No console key is no finding: the edge then refuses config commands, and says so."""
    key_file = config.trust.key_file
    if not key_file.exists():
        return []
    try:
        load_key(key_file)
    except SigningKeyError as exc:
        return [
            Finding(
                ("trust", "key_file"),
                "an Ed25519 private key in PEM (PKCS#8) that the worker can read",
                str(exc),
                "The worker refuses to start with it. A new key means registering its public "
                "key with the console again.",
                "warning",
            )
        ]
    return []


# --- YAML and line numbers -----------------------------------------------------------------


_Duplicate = tuple[Loc, int, int]
"""A key path given twice in one mapping: the path, its line, the line of the first one."""


def _parse_yaml(text: str) -> tuple[Any, dict[Loc, int], list[_Duplicate]]:
    """Data, the 1-based line of every key path, and the keys given twice."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {(): 1}, []
        lines: dict[Loc, int] = {(): node.start_mark.line + 1}
        duplicates = list(_walk(node, (), lines))
        return loader.construct_document(node), lines, duplicates
    finally:
        loader.dispose()


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> Iterator[_Duplicate]:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.tag)
            line = key_node.start_mark.line + 1
            sub = (*loc, key)
            if sub in lines and key != "<<":
                yield sub, line, lines[sub]
            lines.setdefault(sub, line)
            yield from _walk(value_node, sub, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.setdefault((*loc, i), item.start_mark.line + 1)
            yield from _walk(item, (*loc, i), lines)


def _duplicate_problem(file: str, loc: Loc, line: int, first: int) -> ConfigProblem:
    return ConfigProblem(
        file,
        line,
        format_loc(loc),
        "each key once per mapping",
        f"{loc[-1]!r} a second time (first on line {first})",
        "YAML keeps only the last one: merge the two or delete one.",
    )


def _syntax_problem(exc: yaml.YAMLError, text: str, file: str) -> ConfigProblem:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    if context and context_mark is not None and context_mark.line + 1 != line:
        context = f"{context} that starts on line {context_mark.line + 1}"
    got = f"{problem} ({context})" if context else str(problem)
    if "\t" in text:
        hint = "Indent with spaces: YAML does not allow tabs."
    else:
        hint = "Check the indentation, and quote values that contain ': ', ' #', '[' or '{'."
    return ConfigProblem(file, line, "(YAML syntax)", "valid YAML", got, hint)


def _default_origins(data: Any) -> dict[Loc, Loc]:
    """Camera key paths whose values came from ``defaults`` -> where they came from."""
    origins: dict[Loc, Loc] = {}
    if not isinstance(data, dict) or not isinstance(data.get("cameras"), list):
        return origins
    defaults = data.get("defaults")
    default_rules = defaults.get("rules", {}) if isinstance(defaults, dict) else {}
    for i, cam in enumerate(data["cameras"]):
        if not isinstance(cam, dict):
            continue
        rules = cam.get("rules", {})
        if isinstance(default_rules, dict) and isinstance(rules, dict):
            for sub in _inherited(default_rules, rules):
                origins[("cameras", i, "rules", *sub)] = ("defaults", "rules", *sub)
        if "detect_fps" not in cam:
            origins[("cameras", i, "detect_fps")] = ("defaults", "detect_fps")
    return origins


def _inherited(base: dict[Any, Any], override: dict[Any, Any], loc: Loc = ()) -> Iterator[Loc]:
    for key, value in base.items():
        if key not in override:
            yield (*loc, key)
        elif isinstance(value, dict) and isinstance(override[key], dict):
            yield from _inherited(value, override[key], (*loc, key))


def _problems(
    findings: list[Finding], lines: dict[Loc, int], origins: dict[Loc, Loc], file: str
) -> list[ConfigProblem]:
    """Findings placed on their YAML lines (inherited values on the defaults' lines), deduped."""
    problems: list[ConfigProblem] = []
    for f in findings:
        loc = f.loc
        for n in range(len(loc), 0, -1):
            if loc[:n] in origins:
                loc = origins[loc[:n]] + loc[n:]
                break
        line = next((lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in lines), None)
        p = ConfigProblem(file, line, format_loc(loc), f.expected, f.got, f.hint, f.severity)
        if p not in problems:
            problems.append(p)
    return problems


# --- writing ---------------------------------------------------------------------------------

_PATHS: tuple[Loc, ...] = (
    ("detector", "model"),
    ("evidence", "dir"),
    ("outbox", "path"),
    ("mqtt", "tls", "ca_file"),
    ("mqtt", "tls", "certfile"),
    ("mqtt", "tls", "keyfile"),
    ("trust", "key_file"),
)


def dump_config(config: SiteConfig, path: str | Path) -> None:
    """Write ``config`` to ``path`` atomically, keeping the file it replaces as ``<name>.prev``.

    The text is re-validated before anything is written (a :class:`ConfigError` leaves both files
    untouched). Written: the keys that were set (camera rules and ``detect_fps`` only where they
    differ from ``defaults``); paths inside the folder above ``path``'s folder relative to
    ``path``'s folder, others absolute. PyYAML keeps no comments: the operator's comments are
    lost on rewrite (the ``.prev`` file still has them); config commands edit the file in
    place instead (:mod:`sitewatch.edge.config.roundtrip`).
    """
    path = Path(path)
    text = f"# Written by SiteWatch; the previous version is {path.name}.prev\n" + yaml.safe_dump(
        config_to_data(config, path.absolute().parent), sort_keys=False, allow_unicode=True
    )
    written, _ = parse_config(text, path)
    if written != config:
        raise ValueError(f"{path}: the written config would read back differently; not written")
    if path.exists():
        write_atomic(path.with_name(path.name + ".prev"), path.read_bytes())
    write_atomic(path, text.encode("utf-8"))


def config_to_data(config: SiteConfig, base_dir: Path) -> dict[str, Any]:
    """Plain data for YAML: what was set, camera values inherited from defaults left out."""
    data = config.model_dump(mode="json", exclude_unset=True)
    default_rules = config.defaults.rules.model_dump(mode="json")
    for cam, out in zip(config.cameras, data["cameras"], strict=True):
        rules = _diff(cam.rules.model_dump(mode="json"), default_rules)
        if rules:
            out["rules"] = rules
        else:
            out.pop("rules", None)
        if cam.detect_fps == config.defaults.detect_fps:
            out.pop("detect_fps", None)
    if data["mqtt"].get("client_id") == default_client_id(config.site.id):
        del data["mqtt"]["client_id"]
    for loc in _PATHS:
        parent = data
        for key in loc[:-1]:
            parent = parent.get(str(key), {})
        if parent.get(str(loc[-1])) is not None:
            parent[str(loc[-1])] = _portable(Path(parent[str(loc[-1])]), base_dir)
    return data


def _diff(values: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            sub = _diff(value, base[key])
            if sub:
                out[key] = sub
        elif base.get(key, object()) != value:
            out[key] = value
    return out


def _portable(path: Path, base_dir: Path) -> str:
    if path.is_absolute() and path.is_relative_to(base_dir.parent):
        return os.path.relpath(path, base_dir)
    return str(path)
