"""The codes of the console's errors: one registry, the page translates by code.

Every error answer is ``{"detail": "<English: why, what to do>", "code": "<code>", "params":
{...}}``: ``detail`` for scripts and logs, ``code`` and ``params`` for the page, which looks up
``error.<code>`` in its language file (static/lang/*.json) and fills ``{name}`` placeholders from
``params``; a code it does not know shows ``detail``. :data:`CODES` maps each code to its
English template (the placeholders it fills); tests/unit/test_error_codes.py checks that both
language files have every code with the same placeholders. Codes are stable: rename none, add.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

CODES: Final[Mapping[str, str]] = {
    # generic, by kind (a domain error raised without its own code) and by HTTP status
    "request.refused": "The request was refused.",
    "not_found": "Not found among what you may see.",
    "conflict": "Not possible in the current state: reload and try again.",
    "invalid": "The request's content cannot be used as given.",
    "unavailable": "Something the request needs is not there now: try again later.",
    "http.400": "Bad request.",
    "http.401": "Not logged in: log in again.",
    "http.403": "Not allowed.",
    "http.404": "Not found.",
    "http.405": "Method not allowed.",
    "http.409": "Conflict with the current state: reload and try again.",
    "http.413": "Request too large: send less.",
    "http.415": "The file's type is not served.",
    "http.422": "The request's content cannot be used as given.",
    "http.429": "Too many attempts: wait and try again.",
    "http.500": "Server error.",
    "http.503": "Unavailable now: try again later.",
    # sign-in, session, CSRF, roles and scope (api/deps.py, routes/auth.py)
    "auth.not_logged_in": "Not logged in: log in.",
    "auth.session_expired": "Session expired or unknown: log in again.",
    "auth.account_disabled": "Account disabled: ask an admin.",
    "auth.wrong_credentials": "Wrong user name or password.",
    "auth.role_may_not": "Role {role} may not {capability}: ask an admin for a role that may.",
    "csrf.missing": "Missing {header} header: the console page sends it with every change.",
    "csrf.cross_origin": "Cross-origin request refused: use the console's own pages.",
    "scope.no_site": "No site {site}.",
    "scope.no_camera": "No camera {camera} at site {site}.",
    "scope.whole_site_needed": "Needs a user of the whole site {site}: ask an admin of the site.",
    # request validation (FastAPI's 422: the first problem, by pydantic's error type)
    "validation.missing": "{field}: required.",
    "validation.type": "{field}: expected {expected}, got {got}.",
    "validation.too_short": "{field}: at least {limit} characters or items.",
    "validation.too_long": "{field}: at most {limit} characters or items.",
    "validation.range": "{field}: out of range ({limit}), got {got}.",
    "validation.choice": "{field}: expected one of {expected}, got {got}.",
    "validation.pattern": "{field}: not in the expected form, got {got}.",
    "validation.json": "The request body is not valid JSON.",
    "validation.extra": "{field}: not a field of this request.",
    "validation.invalid": "{field}: invalid value {got}.",
    # a zone refused for its polygon: the words of the edge's refusal (edge_reason.* texts)
    "zone.edges_cross": "Edge {a} of the zone crosses edge {b} (a bow-tie): put the corners in "
    "order around the outline",
    "zone.no_area": "The zone's corners lie on one line: move a corner off that line",
    "zone.repeated_corner": "Corner {second} of the zone is at the same place as corner "
    "{first}: delete one of them",
    # alerts, incidents and the workflow
    "alert.not_found": "No alert {alert}.",
    "alert.changed": "Alert {alert} changed while you acted on it: reload it and try again.",
    "alert.bad_assignee": "Cannot assign to {user}: choose an active user who may work alerts.",
    "incident.not_found": "No incident {incident}.",
    "incident.changed": "Incident {incident} changed while you acted on it: reload it.",
    "workflow.step_not_allowed": "Cannot {action} when {state}: allowed are {allowed}.",
    "workflow.missing_input": "The step lacks what it needs (an assignee, a note).",
    "time.no_zone": "{name} has no time zone: add one.",
    # configuration sent to an edge
    "config.no_site": "No site {site} yet: it appears once its edge reports.",
    "config.no_camera": "No camera {camera} at site {site} yet: it appears once its edge reports.",
    "config.invalid": "Not a valid change: {problems}",
    "config.pending": "A change to {where} is still waiting for the edge's answer: wait.",
    "config.not_reported": "The edge has not reported the zones of {where} yet: try later.",
    "config.no_signing_key": "The console has no signing key loaded: restart it.",
    "config.broker_down": "The console is not connected to the MQTT broker: try again later.",
    "config.camera_exists": "Site {site} has camera {camera} already: edit it or choose another.",
    "config.nothing_lost": "Camera {camera} has lost nothing: nothing to re-send.",
    "config.lost_camera_change": "A lost camera change: make it again in the camera editor.",
    "config.no_applied_change": "No applied zone change on record: make it again.",
    "config.version_mismatch": "The edge runs another config version: reload and edit again.",
    "config.request_not_found": "No config request {request}.",
    "mask.no_box": "Alert {alert} has no box to mask: draw the mask in the zone editor.",
    # users, evidence, reports, snapshots
    "user.exists": "User {user} exists already: pick another name.",
    "user.not_found": "No user {user}.",
    "user.invalid": "Not a valid user: {problem}",
    "user.star_alone": "'*' means every site and stands alone.",
    "user.may_not_grant": "You may not {what}: {problem}",
    "user.last_admin": "{user} is the last active admin: make another admin first.",
    "evidence.not_found": "Alert {alert} has no evidence file {name}.",
    "evidence.export_refused": "Export refused: {reason}",
    "evidence.not_arrived": "Evidence {name} has not arrived from the edge yet: try again shortly.",
    "evidence.refused_at_ingest": "Evidence {name} arrived with another SHA-256 than listed and "
    "was refused; the edge sends it again.",
    "evidence.deleted": "Evidence {name} was deleted when its retention period passed.",
    "evidence.backend_unsupported": "The evidence is kept in S3 storage, which this feature "
    "does not read yet: view or download the files one by one.",
    "evidence.file_missing": "Evidence {name} is missing from the console's disk: restore it "
    "from a backup and tell an admin.",
    "evidence.tampered": "Evidence {name} no longer matches its SHA-256: it was changed on disk "
    "and is not served; restore it from a backup and tell an admin.",
    "evidence.type_not_served": "Evidence {name} is stored as {type}, which the console does "
    "not serve: export the alert to examine it.",
    "export.no_signing_key": "Export refused: the console has no signing key loaded.",
    "report.bad_day": "Date {day} is outside the days reports cover.",
    "report.pdf_unavailable": "The PDF cannot be made: ask for xlsx.",
    "snapshot.none": "Camera {camera} has sent no snapshot yet.",
    # Prometheus at /metrics (api/routes/metrics.py)
    "metrics.off": "Metrics are off: set {variable} to turn them on.",
    "metrics.token": "Wrong or missing metrics token: send the header {header}.",
    # the edge's video uploads (docs/design/live-video.md, "Uploads")
    "video.upload_refused": "Video upload refused: {reason}",
    "video.session_over": "Video session {request} is over: stop sending.",
    # live view, playback and range exports (docs/design/live-video.md)
    "video.edge_offline": "The edge of site {site} is offline: try again when it is back.",
    "video.camera_offline": "Camera {camera} is offline: {error}",
    "video.not_recorded": "Camera {camera} has no recording of that time (never, or deleted).",
    "video.busy": "The edge of site {site} is sending as much video as it may: try later.",
    "video.timeout": "The edge of site {site} sent no video in {seconds} s: try again.",
    "video.failed": "The edge could not send that video: {reason}",
    "video.broker_down": "The console is not connected to the MQTT broker: try again later.",
    "video.range_invalid": "Not a range to export: {problem}",
    "video.export_not_found": "No video export {export}.",
    "video.export_not_ready": "Video export {export} is {state}, not ready.",
    "video.cache_gone": "That video window is no longer cached: ask for it again.",
    "video.alert_mismatch": "Alert {alert} is not of camera {camera} at site {site}.",
}


def known(code: str) -> str:
    """``code`` when it is in :data:`CODES`; else ValueError saying how to add it."""
    if code not in CODES:
        raise ValueError(
            f"unknown error code {code!r}: add it to sitewatch/console/error_codes.py CODES "
            "and 'error.<code>' to both static/lang files"
        )
    return code
