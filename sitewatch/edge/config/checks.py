"""Cross-field checks of a validated :class:`~sitewatch.edge.config.schema.SiteConfig`: pure, named
functions.

Each check yields :class:`Finding` s that point at a key path (a pydantic-style ``loc``) and say
what was expected, what came and what to do. ``error`` findings make the config invalid;
``warning`` findings are listed by ``sitewatch validate-config`` but the worker still starts.
No I/O here: the loader adds file and environment checks of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from sitewatch.edge.config.rule_specs import RULE_SPECS
from sitewatch.edge.config.schema import SiteConfig

Loc = tuple[str | int, ...]
Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One problem at ``loc``: what was expected, what came, and what to do."""

    loc: Loc
    expected: str
    got: str
    hint: str = ""
    severity: Severity = "error"

    def text(self) -> str:
        hint = f" {self.hint}" if self.hint else ""
        return f"{format_loc(self.loc)}: expected {self.expected}, got {self.got}.{hint}"


def format_loc(loc: Iterable[str | int]) -> str:
    """``("cameras", 1, "zones", 0)`` -> ``cameras[1].zones[0]``; empty -> ``(top level)``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "(top level)"


def check_unique_camera_ids(config: SiteConfig) -> Iterator[Finding]:
    first: dict[str, int] = {}
    for i, cam in enumerate(config.cameras):
        if cam.id in first:
            yield Finding(
                ("cameras", i, "id"),
                "a camera id used once per site",
                f"{cam.id!r}, already the id of cameras[{first[cam.id]}]",
                "Give every camera its own id; alerts and evidence are filed under it.",
            )
        else:
            first[cam.id] = i


def check_unique_zone_ids(config: SiteConfig) -> Iterator[Finding]:
    for c, cam in enumerate(config.cameras):
        first: dict[str, int] = {}
        for z, zone in enumerate(cam.zones):
            if zone.id in first:
                yield Finding(
                    ("cameras", c, "zones", z, "id"),
                    "a zone id used once per camera",
                    f"{zone.id!r}, already the id of zones[{first[zone.id]}]",
                    "Rename one of the zones.",
                )
            else:
                first[zone.id] = z


def check_frame_age_vs_deadline(config: SiteConfig) -> Iterator[Finding]:
    det = config.detector
    if det.batch_deadline_ms >= det.max_frame_age_ms:
        yield Finding(
            ("detector", "batch_deadline_ms"),
            f"less than max_frame_age_ms ({det.max_frame_age_ms})",
            str(det.batch_deadline_ms),
            "Frames waiting for a batch would be stale and dropped; typical: 150 and 1000.",
        )


def check_rules_have_zones(config: SiteConfig) -> Iterator[Finding]:
    """An enabled rule with no zone it could fire in, a zone whose rule is off, or an
    exempting zone (a smoking area) with nothing around it."""
    for c, cam in enumerate(config.cameras):
        if not cam.enabled:
            continue
        kinds = {zone.kind for zone in cam.zones}
        for spec in RULE_SPECS.values():
            kind, rule_name = spec.zone, spec.name
            if cam.rules.of(rule_name).enabled and kind not in kinds:
                yield Finding(
                    ("cameras", c, "zones"),
                    f"a {kind} zone on a camera whose {rule_name} rule is enabled",
                    f"no {kind} zone on camera {cam.id!r}",
                    f"This rule never fires here: add a {kind} zone, or set "
                    f"rules.{rule_name}.enabled: false on this camera.",
                    "warning",
                )
        for spec in RULE_SPECS.values():
            if not cam.rules.of(spec.name).enabled and spec.zone in kinds:
                z = next(i for i, zone in enumerate(cam.zones) if zone.kind == spec.zone)
                yield Finding(
                    ("cameras", c, "rules", spec.name, "enabled"),
                    f"the {spec.name} rule enabled on a camera with a {spec.zone} zone",
                    f"enabled: false, and zones[{z}] is a {spec.zone} zone",
                    f"Nothing is raised in a {spec.zone} zone while its rule is off: set "
                    f"rules.{spec.name}.enabled: true, or remove the zone.",
                    "warning",
                )
            for exempt in (k for k in spec.exempt if k in kinds and spec.zone not in kinds):
                z = next(i for i, zone in enumerate(cam.zones) if zone.kind == exempt)
                yield Finding(
                    ("cameras", c, "zones", z, "kind"),
                    f"a {exempt} inside a {spec.zone} zone",
                    f"no {spec.zone} zone on camera {cam.id!r}",
                    f"A {exempt} only exempts part of a {spec.zone} zone; without one it does "
                    "nothing.",
                    "warning",
                )


def check_min_score_vs_label_conf(config: SiteConfig) -> Iterator[Finding]:
    """A rule's min_score below the detector's threshold for its evidence label has no effect."""
    for c, cam in enumerate(config.cameras):
        for spec in RULE_SPECS.values():
            rule_name, label = spec.name, spec.evidence
            rule = cam.rules.of(rule_name)
            floor = config.detector.label_conf.get(label, 0.0)
            if rule.min_score < floor:
                yield Finding(
                    ("cameras", c, "rules", rule_name, "min_score"),
                    f"at least detector.label_conf.{label} ({floor})",
                    str(rule.min_score),
                    f"The detector drops {label} boxes below {floor}, so this is {floor} in "
                    "effect; lower label_conf or raise min_score.",
                    "warning",
                )


def check_roll_vs_segment(config: SiteConfig) -> Iterator[Finding]:
    ev = config.evidence
    for key, seconds in (("pre_roll_s", ev.pre_roll_s), ("post_roll_s", ev.post_roll_s)):
        if 0 < seconds < ev.segment_s:
            yield Finding(
                ("evidence", key),
                f"at least segment_s ({ev.segment_s}) or 0",
                str(seconds),
                f"Clips are cut on segment bounds, so {key} is in effect up to a whole "
                "segment; shorten segment_s or lengthen the roll.",
                "warning",
            )


def check_mqtt(config: SiteConfig) -> Iterator[Finding]:
    mqtt = config.mqtt
    tls = mqtt.tls
    if tls.enabled and tls.insecure:
        yield Finding(
            ("mqtt", "tls", "insecure"),
            "false outside tests",
            "true",
            "The broker's certificate is not checked: anyone in the path can read alerts.",
            "warning",
        )
    if not tls.enabled and any(p is not None for p in (tls.ca_file, tls.certfile, tls.keyfile)):
        yield Finding(
            ("mqtt", "tls", "enabled"),
            "true when certificate files are given",
            "false",
            "The files are ignored while TLS is off; set tls.enabled: true.",
            "warning",
        )
    if mqtt.port == 8883 and not tls.enabled:
        yield Finding(
            ("mqtt", "port"),
            "TLS enabled on 8883, the MQTT-over-TLS port",
            "tls.enabled: false",
            "Set tls.enabled: true, or use port 1883 for plain MQTT.",
            "warning",
        )
    if mqtt.password_env and not mqtt.username_env:
        yield Finding(
            ("mqtt", "password_env"),
            "username_env as well",
            "a password with no user name",
            "Brokers check the password of a user; name the user's variable in username_env.",
            "warning",
        )


def check_cameras(config: SiteConfig) -> Iterator[Finding]:
    if not any(cam.enabled for cam in config.cameras):
        yield Finding(
            ("cameras",),
            "at least one enabled camera",
            "every camera disabled",
            "The worker will run but watch nothing.",
            "warning",
        )
    for c, cam in enumerate(config.cameras):
        if cam.record is not None and cam.record == cam.detect:
            yield Finding(
                ("cameras", c, "record"),
                "the camera's main stream, different from detect",
                "the same URL as detect",
                "Leave record out to record the detect stream, or give the main stream's URL.",
                "warning",
            )


CHECKS: tuple[Callable[[SiteConfig], Iterator[Finding]], ...] = (
    check_unique_camera_ids,
    check_unique_zone_ids,
    check_frame_age_vs_deadline,
    check_rules_have_zones,
    check_min_score_vs_label_conf,
    check_roll_vs_segment,
    check_mqtt,
    check_cameras,
)
"""Every cross-field check, run in this order."""


def cross_check(config: SiteConfig) -> list[Finding]:
    """Every finding of every check in :data:`CHECKS`."""
    return [finding for check in CHECKS for finding in check(config)]
