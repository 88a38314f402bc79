"""False positives as training data: the clean frames where the detector was wrong.

    sitewatch-false-positives/
        images/<alert_id>.jpg   the clean snapshot (no drawings) of each false positive
        labels.jsonl            one line per image: the wrong box (normalised xyxy), its label
                                and score, site, camera, rule, and the notes of who marked it
        README.txt              how to use them (hard negatives for the next training run)

Only stored, SHA-256-verified clean snapshots go in; alerts without one are counted as
skipped in README.txt.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.console.domain.custody import EvidenceUnavailable, Tampered, verified_file
from sitewatch.console.settings import Settings
from sitewatch.console.store.models import Alert, AlertAction, Evidence

ROOT = "sitewatch-false-positives"
README = """SiteWatch false positives, exported {at} by {by}: {n} image(s), {skipped} skipped
(no verified clean snapshot).

Each image is a frame where the detector reported the box in labels.jsonl (label, score,
normalised x1 y1 x2 y2) and a person at the console marked the alert a false positive. Use
them as hard negatives: review each, label what is really there (e.g. a worn hard hat as
`helmet`), and add them to the training set of the next model.
"""


def build_false_positives(
    s: Session, settings: Settings, alerts: list[Alert], *, by: str, at: datetime
) -> tuple[bytes, int]:
    """(zip bytes, number of images) for ``alerts`` (false positives the user may see);
    raises :class:`sitewatch.console.domain.custody.Tampered` if a snapshot no longer matches its
    SHA-256."""
    buf = io.BytesIO()
    lines: list[str] = []
    skipped = 0
    stamp = at.timetuple()[:6]
    with zipfile.ZipFile(buf, "w") as zf:
        for alert in alerts:
            clean = s.scalar(
                select(Evidence).where(
                    Evidence.alert_id == alert.id, Evidence.kind == "snapshot_clean"
                )
            )
            if clean is None:
                skipped += 1
                continue
            try:
                data = verified_file(settings, alert, clean).read_bytes()
            except Tampered:
                raise
            except EvidenceUnavailable:
                skipped += 1
                continue
            image = f"images/{alert.id}.jpg"
            zf.writestr(zipfile.ZipInfo(f"{ROOT}/{image}", date_time=stamp), data)
            notes = s.scalars(
                select(AlertAction)
                .where(AlertAction.alert_id == alert.id)
                .order_by(AlertAction.at, AlertAction.id)
            ).all()
            lines.append(
                json.dumps(
                    {
                        "image": image,
                        "alert_id": alert.id,
                        "site_id": alert.site_id,
                        "camera_id": alert.camera_id,
                        "rule": alert.rule,
                        "label": alert.label,
                        "score": alert.score,
                        "box": alert.box,
                        "started_at": alert.started_at.isoformat(),
                        "notes": [
                            {"by": a.username, "at": a.at.isoformat(), "note": a.note}
                            for a in notes
                            if a.note
                        ],
                    },
                    ensure_ascii=False,
                )
            )
        text = "".join(f"{line}\n" for line in lines).encode()
        zf.writestr(zipfile.ZipInfo(f"{ROOT}/labels.jsonl", date_time=stamp), text)
        readme = README.format(at=at.isoformat(), by=by, n=len(lines), skipped=skipped)
        zf.writestr(zipfile.ZipInfo(f"{ROOT}/README.txt", date_time=stamp), readme)
    return buf.getvalue(), len(lines)
