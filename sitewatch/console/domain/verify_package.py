"""``sitewatch verify PACKAGE.zip``: check a police evidence package offline
(sitewatch/console/domain/export.py).

Needs no console, database or network: only the zip. Every check prints one line, OK, FAILED
or UNSIGNED, and what it found (NOTE lines name evidence the package lacks): the zip's entries,
the manifest's signature by the console key, every file's SHA-256 and size, every alert
message's signature by the site edge's key, every evidence file against the edge's signed
listing, every range export (video/) against the manifest's entry for it, and the custody
log (this alert, in time order, ending with this export).

Exit status: 0 when nothing FAILED, 1 when something did, 2 when the file is not a readable
zip. UNSIGNED (a site with no registered edge key) does not fail unless ``--require-signed``.
Each check and why UNSIGNED passes by default: docs/design/police-package.md.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from sitewatch.contract import messages as m
from sitewatch.contract.signing import SigningKeyError, fingerprint, parse_public_key, verify

OWN = ("manifest.json", "manifest.sha256", "manifest.json.sig")
EVIDENCE = "evidence/"
VIDEO = "video/"
Status = Literal["OK", "FAILED", "UNSIGNED", "NOTE"]  # NOTE: for the reader, not a check


class PackageError(Exception):
    """The file cannot be read as a package at all; the text says what it is instead."""


@dataclass
class Report:
    """The checks in the order they ran."""

    lines: list[tuple[Status, str]] = field(default_factory=list)

    def add(self, status: Status, text: str) -> None:
        self.lines.append((status, text))

    def count(self, status: Status) -> int:
        return sum(1 for s, _ in self.lines if s == status)

    def text(self) -> str:
        body = [f"  {s:<9} {t}" for s, t in self.lines]
        failed, unsigned = self.count("FAILED"), self.count("UNSIGNED")
        checks = len(self.lines) - self.count("NOTE")
        if failed:
            result = f"FAILED: {failed} of {checks} checks failed (see above)"
        elif unsigned:
            result = (
                f"OK but UNSIGNED: {unsigned} check(s) found no edge signature; the package "
                "is as the console exported it, but nothing proves the site's edge made it"
            )
        else:
            result = f"OK: all {checks} checks passed"
        return "\n".join([*body, f"Result: {result}"])


def verify_package(path: Path) -> Report:
    """Run every check on the zip at ``path``; :class:`PackageError` if it is not one."""
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise PackageError(f"expected a SiteWatch package (a zip), got {path}: {exc}") from None
    with zf:
        entries = zf.namelist()
        report = Report()
        root = _check_entries(report, entries)
        if root is None:
            return report
        data = {name.removeprefix(root): zf.read(name) for name in entries if name != root}
    manifest = _json(report, data, "manifest.json")
    keys = _json(report, data, "keys.json")
    if manifest is None or keys is None:
        return report
    _check_manifest_signature(report, data, keys)
    actual = _check_hashes(report, data, manifest)
    for gone in manifest.get("missing", []):
        report.add(
            "NOTE", f"evidence {gone.get('name')} is not in the package: {gone.get('status')}"
        )
    edge = _edge_keys(report, keys)
    messages = _check_messages(report, data, manifest, edge)
    _check_listings(report, actual, messages)
    _check_video(report, manifest, actual)
    _check_custody(report, data, manifest, actual)
    return report


def _check_entries(report: Report, entries: list[str]) -> str | None:
    roots = {name.split("/", 1)[0] for name in entries}
    bad = [n for n in entries if n.startswith("/") or ".." in n.split("/") or "\\" in n]
    duplicates = sorted({n for n in entries if entries.count(n) > 1})
    if len(roots) != 1 or bad or duplicates or not entries:
        report.add(
            "FAILED",
            f"zip entries: expected one folder sitewatch-alert-<id>/ with unique names, got "
            f"folders {sorted(roots)}, duplicates {duplicates}, unsafe names {bad}",
        )
        return None
    report.add("OK", f"zip entries: {len(entries)} in one folder, no duplicates")
    return f"{roots.pop()}/"


def _json(report: Report, data: dict[str, bytes], name: str) -> Any:
    """The JSON object in ``name``, or None (reported FAILED) when missing or not one."""
    try:
        doc = json.loads(data[name])
    except KeyError:
        report.add("FAILED", f"{name}: missing from the package")
        return None
    except ValueError as exc:
        report.add("FAILED", f"{name}: expected JSON, got bytes that are not ({exc})")
        return None
    if not isinstance(doc, dict):
        report.add("FAILED", f"{name}: expected a JSON object, got {type(doc).__name__}")
        return None
    return doc


def _check_manifest_signature(report: Report, data: dict[str, bytes], keys: Any) -> None:
    try:
        key = parse_public_key(str(keys["console"]["public_key"]))
        key.verify(base64.b64decode(data["manifest.json.sig"].strip()), data["manifest.json"])
    except (KeyError, TypeError, SigningKeyError, binascii.Error, InvalidSignature) as exc:
        report.add(
            "FAILED",
            f"manifest signature: manifest.json does not verify with the console key in "
            f"keys.json ({type(exc).__name__}: {exc}): it was changed after export",
        )
        return
    report.add(
        "OK",
        f"manifest signature: by console key {fingerprint(key)} (compare it with the key the "
        "console shows: 'sitewatch server public-key')",
    )


def _check_hashes(report: Report, data: dict[str, bytes], manifest: Any) -> dict[str, str]:
    """Check every listed file; returns name -> the SHA-256 of the bytes actually there."""
    actual = {name: hashlib.sha256(body).hexdigest() for name, body in data.items()}
    listed = {str(f["name"]): f for f in manifest.get("files", [])}
    for name, entry in listed.items():
        if name not in data:
            report.add("FAILED", f"file {name}: listed in manifest.json but not in the zip")
        elif (actual[name], len(data[name])) != (entry["sha256"], entry["size_bytes"]):
            report.add(
                "FAILED",
                f"file {name}: expected SHA-256 {entry['sha256']} ({entry['size_bytes']} "
                f"bytes), found {actual[name]} ({len(data[name])} bytes): the file was changed",
            )
        else:
            report.add("OK", f"file {name}: SHA-256 {actual[name]} ({len(data[name])} bytes)")
    for name in sorted(set(data) - set(listed) - set(OWN)):
        report.add("FAILED", f"file {name}: in the zip but not in manifest.json (added later)")
    sums = {}
    for line in data.get("manifest.sha256", b"").decode(errors="replace").splitlines():
        digest, _, name = line.partition("  ")
        sums[name] = digest
    wrong = sorted(n for n in set(listed) | {"manifest.json"} if sums.get(n) != actual.get(n))
    if wrong or set(sums) - set(listed) - {"manifest.json"}:
        report.add("FAILED", f"manifest.sha256: disagrees with the files about {wrong}")
    else:
        report.add("OK", f"manifest.sha256: {len(sums)} lines agree with the files")
    return actual


def _edge_keys(report: Report, keys: Any) -> dict[str | None, Ed25519PublicKey]:
    """The edge's keys by fingerprint; ``None`` maps to the key registered now."""
    found: dict[str | None, Ed25519PublicKey] = {}
    edge = keys.get("edge")
    for entry in [*keys.get("edge_keys", []), *([edge] if edge else [])]:
        try:
            key = parse_public_key(str(entry["public_key"]))
        except (KeyError, TypeError, SigningKeyError) as exc:
            report.add("FAILED", f"edge key: keys.json has an unusable edge key: {exc}")
            continue
        found[fingerprint(key)] = found[None] = key
    if not found:
        report.add("UNSIGNED", "edge key: none in keys.json (the site had no registered edge)")
    else:
        now = f"registered now: {fingerprint(found[None])}" if edge else "the site is open now"
        shown = ", ".join(sorted(k for k in found if k))
        report.add("OK", f"edge keys: {shown} ({now})")
    return found


def _check_messages(
    report: Report,
    data: dict[str, bytes],
    manifest: Any,
    edge_keys: dict[str | None, Ed25519PublicKey],
) -> list[tuple[m.AlertEvent, bool]]:
    """Each message and whether its signature verified with the edge key."""
    doc = _json(report, data, "messages.json") or {}
    out: list[tuple[m.AlertEvent, bool]] = []
    for item in doc.get("messages", []):
        try:
            msg = m.AlertEvent.model_validate(item["message"])
        except (KeyError, TypeError, ValidationError) as exc:
            report.add("FAILED", f"message {item!r:.80}: not an alert message ({exc})")
            continue
        what = f"message seq {msg.seq} ({msg.event})"
        edge = edge_keys.get(item.get("verified_with")) or edge_keys.get(None)
        signed = edge is not None and verify(msg, edge)
        if str(msg.id) != manifest.get("alert_id") or msg.site_id != manifest.get("site_id"):
            report.add("FAILED", f"{what}: about alert {msg.id} of site {msg.site_id}, not this")
        elif msg.signature is None or edge is None:
            report.add("UNSIGNED", f"{what}: {'no signature' if edge else 'no edge key'}")
        elif signed:
            report.add("OK", f"{what}: signed by the edge key")
        else:
            report.add(
                "FAILED",
                f"{what}: its signature does not verify with the edge key: the message was "
                "changed, or signed by another key",
            )
        out.append((msg, signed))
    if not out:
        report.add("FAILED", "messages.json: no alert message in the package")
    return out


def _check_listings(
    report: Report, actual: dict[str, str], messages: list[tuple[m.AlertEvent, bool]]
) -> None:
    for name in sorted(n for n in actual if n.startswith(EVIDENCE)):
        short = name.removeprefix(EVIDENCE)
        listings = [
            (ok, msg.seq, f) for msg, ok in messages for f in msg.evidence if f.name == short
        ]
        if not listings:
            report.add("FAILED", f"listing {name}: no message lists it")
            continue
        signed, seq, file = max(listings, key=lambda x: (x[0], x[1]))
        if file.sha256 != actual[name]:
            report.add(
                "FAILED",
                f"listing {name}: message seq {seq} lists SHA-256 {file.sha256}, the file "
                f"has {actual[name]}: not the file the edge sent",
            )
        elif signed:
            report.add("OK", f"listing {name}: as the edge's signed message seq {seq} lists it")
        else:
            report.add("UNSIGNED", f"listing {name}: as unsigned message seq {seq} lists it")


def _check_video(report: Report, manifest: Any, actual: dict[str, str]) -> None:
    """Each range export (``video/``) is listed as one, with the SHA-256 of its bytes; its hash
    was computed by the console on upload, so the manifest's signature is what vouches."""
    listed = {str(f.get("name")): f for f in manifest.get("files", [])}
    for name in sorted(n for n in actual if n.startswith(VIDEO)):
        entry = listed.get(name, {})
        if entry.get("kind") != "video_export":
            report.add("FAILED", f"video {name}: not listed in manifest.json as a range export")
        elif entry.get("sha256") != actual[name]:
            report.add("FAILED", f"video {name}: not the bytes the console stored")
        else:
            report.add(
                "OK",
                f"video {name}: camera {entry.get('camera_id')} ({entry.get('stream')}) from "
                f"{entry.get('start')} to {entry.get('end')}, SHA-256 as the console computed "
                "it on upload (the manifest's signature covers it; no edge signature)",
            )


def _check_custody(report: Report, data: dict[str, bytes], manifest: Any, actual: Any) -> None:
    doc = _json(report, data, "custody.json")
    if doc is None:
        return
    entries = doc.get("entries") or [{}]
    alert_id, last = manifest.get("alert_id"), entries[-1]
    files = sorted(n.removeprefix(EVIDENCE) for n in actual if n.startswith(EVIDENCE))
    problems = []
    if doc.get("alert_id") != alert_id:
        problems.append(f"it is about alert {doc.get('alert_id')}")
    if [e.get("at") for e in entries] != sorted(e.get("at") for e in entries):
        problems.append("its entries are not in time order")
    if any(str(e.get("object_id", "")).split("/")[0] != alert_id for e in entries):
        problems.append("it has entries about other objects")
    export = (last.get("action"), last.get("username"), last.get("at"))
    if export != ("export", manifest.get("exported_by"), manifest.get("exported_at")):
        problems.append(f"its last entry {export} is not this export")
    elif sorted(filter(None, last.get("detail", "").partition("files ")[2].split(", "))) != files:
        problems.append(f"its last entry names other files than {files}")
    if problems:
        report.add("FAILED", f"custody: {'; '.join(problems)}")
    else:
        count = f"{len(entries)} entries" if len(entries) > 1 else "1 entry"
        report.add("OK", f"custody: {count} in time order, ending with this export")


def verify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("package", type=Path, metavar="PACKAGE.zip", help="the exported zip")
    parser.add_argument(
        "--require-signed",
        action="store_true",
        help="fail (exit 1) when a message or listing is not signed by the site's edge",
    )


def run_verify(args: argparse.Namespace) -> int:
    """Print the report; 0 all good, 1 a check failed, 2 not a readable package."""
    try:
        report = verify_package(args.package)
    except PackageError as exc:
        print(f"sitewatch verify: error: {exc}", file=sys.stderr)
        return 2
    print(f"sitewatch verify {args.package}")
    print(report.text())
    failed = report.count("FAILED") or (args.require_signed and report.count("UNSIGNED"))
    return 1 if failed else 0
