"""The SQL that turns bench/db_scale_gen.py's staging tables into the console's rows.

Staging times are Unix seconds (-1: none) and an empty assignee is none; ``{ts(x)}`` and
``{js(x)}`` become each database's timestamp and JSON expressions, so one template serves both.
``:cutoff`` (Unix seconds): evidence of alerts resolved before it is ``deleted``, as the
console's retention leaves it (30 days, its default).
"""

from __future__ import annotations

from collections.abc import Callable

STAGING = (
    """CREATE TABLE gen_incidents (id VARCHAR(36), site_id VARCHAR(40), camera_id VARCHAR(40),
        rule VARCHAR(32), zone_id VARCHAR(40), state VARCHAR(16), assignee VARCHAR(64),
        first_s DOUBLE PRECISION, last_s DOUBLE PRECISION, n INTEGER, best_id VARCHAR(36),
        best_score DOUBLE PRECISION, ack_s DOUBLE PRECISION, close_s DOUBLE PRECISION)""",
    """CREATE TABLE gen_alerts (id VARCHAR(36), incident_id VARCHAR(36), site_id VARCHAR(40),
        camera_id VARCHAR(40), rule VARCHAR(32), zone_id VARCHAR(40), label VARCHAR(32),
        track_id INTEGER, score DOUBLE PRECISION, box VARCHAR(80), start_s DOUBLE PRECISION,
        last_s DOUBLE PRECISION, recv_s DOUBLE PRECISION, ack_s DOUBLE PRECISION,
        close_s DOUBLE PRECISION, state VARCHAR(16), assignee VARCHAR(64))""",
)

_TEMPLATES = (
    """INSERT INTO incidents (id, site_id, camera_id, rule, zone_id, state, assignee, first_at,
        last_at, alert_count, best_alert_id, best_score, reopen_count, created_at, updated_at,
        acknowledged_at, closed_at)
    SELECT id, site_id, camera_id, rule, zone_id, state, NULLIF(assignee, ''), {ts(first_s)},
        {ts(last_s)}, n, best_id, best_score, 0, {ts(first_s + 1)},
        {ts(CASE WHEN close_s > 0 THEN close_s WHEN ack_s > 0 THEN ack_s ELSE last_s + 1 END)},
        CASE WHEN ack_s > 0 THEN {ts(ack_s)} END, CASE WHEN close_s > 0 THEN {ts(close_s)} END
    FROM gen_incidents ORDER BY first_s""",
    """INSERT INTO alerts (id, site_id, camera_id, rule, track_id, zone_id, label, score, box,
        started_at, last_seen_at, ended_at, event, seq, config_version, state, assignee,
        received_at, updated_at, acknowledged_at, closed_at, exported_at, legal_hold,
        incident_id)
    SELECT id, site_id, camera_id, rule, track_id, zone_id, label, score, {js(box)},
        {ts(start_s)}, {ts(last_s)}, {ts(last_s)}, 'end', 1, 'v7', state, NULLIF(assignee, ''),
        {ts(recv_s)},
        {ts(CASE WHEN close_s > 0 THEN close_s WHEN ack_s > 0 THEN ack_s ELSE recv_s END)},
        CASE WHEN ack_s > 0 THEN {ts(ack_s)} END, CASE WHEN close_s > 0 THEN {ts(close_s)} END,
        NULL, FALSE, incident_id
    FROM gen_alerts ORDER BY start_s""",
    """INSERT INTO alert_events (alert_id, seq, event, score, box, last_seen_at, sent_at,
        received_at, payload, signed, signed_by)
    SELECT a.id, m.seq, m.event, a.score, {js(a.box)},
        {ts(a.start_s + m.seq * (a.last_s - a.start_s))},
        {ts(a.start_s + m.seq * (a.last_s - a.start_s))},
        {ts(a.recv_s + m.seq * (a.last_s - a.start_s))},
        {js('{"schema_id": "sitewatch.alert/1", "id": "' || a.id || '", "seq": ' || m.seq
            || ', "event": "' || m.event || '", "site_id": "' || a.site_id
            || '", "camera_id": "' || a.camera_id || '", "rule": "' || a.rule || '"}')},
        TRUE, 'edge-key-' || a.site_id
    FROM gen_alerts a CROSS JOIN (SELECT 0 AS seq, 'start' AS event
                                  UNION ALL SELECT 1, 'end') m
    ORDER BY a.start_s, m.seq""",
    """INSERT INTO evidence (alert_id, name, kind, sha256, size_bytes, content_type, duration_s,
        status, path, stored_at, signed)
    SELECT a.id, f.name, f.kind, replace(a.id, '-', '') || replace(a.id, '-', ''), f.size,
        f.ctype, f.dur,
        CASE WHEN a.state = 'resolved' AND a.close_s < :cutoff THEN 'deleted' ELSE 'stored' END,
        CASE WHEN a.state = 'resolved' AND a.close_s < :cutoff THEN NULL
             ELSE '/var/lib/sitewatch/evidence/' || a.site_id || '/' || a.id || '/' || f.name
        END,
        {ts(a.recv_s + 2)}, TRUE
    FROM gen_alerts a CROSS JOIN (
        SELECT 'snapshot.jpg' AS name, 'snapshot' AS kind, 'image/jpeg' AS ctype,
            182000 AS size, CAST(NULL AS DOUBLE PRECISION) AS dur
        UNION ALL SELECT 'snapshot_clean.jpg', 'snapshot_clean', 'image/jpeg', 176000, NULL
        UNION ALL SELECT 'clip.mp4', 'clip', 'video/mp4', 1900000, 8.0) f
    ORDER BY a.start_s, f.name""",
    """INSERT INTO alert_actions (alert_id, at, username, action, from_state, to_state,
        assignee, note)
    SELECT id, {ts(ack_s)}, 'mgr-' || site_id, 'acknowledge', 'new', 'acknowledged', NULL, ''
    FROM gen_alerts WHERE ack_s > 0
    UNION ALL
    SELECT id, {ts(ack_s + 60)}, 'mgr-' || site_id, 'assign', 'acknowledged', 'assigned',
        assignee, ''
    FROM gen_alerts WHERE assignee <> ''
    UNION ALL
    SELECT id, {ts(close_s)}, 'mgr-' || site_id,
        CASE WHEN state = 'resolved' THEN 'resolve' ELSE 'false_positive' END,
        'acknowledged', state, NULL, 'done'
    FROM gen_alerts WHERE close_s > 0""",
    """INSERT INTO audit_log (at, username, action, object_type, object_id, site_id, camera_id,
        detail, detail_key, detail_params, client)
    SELECT {ts(close_s)}, 'mgr-' || site_id,
        CASE WHEN state = 'resolved' THEN 'resolve' ELSE 'false_positive' END, 'alert', id,
        site_id, camera_id, 'acknowledged -> ' || state, NULL, NULL, '10.0.0.7'
    FROM gen_alerts WHERE close_s > 0 ORDER BY close_s""",
)


def _sqlite_ts(x: str) -> str:
    return (
        f"(strftime('%Y-%m-%d %H:%M:%S', ({x}), 'unixepoch') || printf('.%06d', "
        f"CAST((({x}) - CAST(({x}) AS INTEGER)) * 1000000 AS INTEGER)))"
    )


_DIALECTS: dict[str, tuple[Callable[[str], str], Callable[[str], str]]] = {
    "postgresql": (lambda x: f"to_timestamp({x})", lambda x: f"CAST(({x}) AS JSON)"),
    "sqlite": (_sqlite_ts, lambda x: f"({x})"),
}


def _render(template: str, ts: Callable[[str], str], js: Callable[[str], str]) -> str:
    """``template`` with each ``{ts(...)}``/``{js(...)}`` (balanced parentheses) replaced; no
    other braces may stand outside them."""
    out, i = [], 0
    while (j := template.find("{", i)) >= 0:
        fn = ts if template.startswith("{ts(", j) else js
        depth, k = 0, j + 3
        while True:
            depth += {"(": 1, ")": -1}.get(template[k], 0)
            if depth == 0:
                break
            k += 1
        out.append(template[i:j] + fn(template[j + 4 : k]))
        i = k + 2  # past ")}"
    out.append(template[i:])
    return "".join(out)


FILL: dict[str, tuple[str, ...]] = {
    name: tuple(_render(t, ts, js) for t in _TEMPLATES) for name, (ts, js) in _DIALECTS.items()
}
