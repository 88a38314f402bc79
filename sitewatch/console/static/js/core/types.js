// @ts-check
// The shapes the console's scripts share, as JSDoc types for the checker (tools/js: make
// jscheck); no code. The API's are the server's response models (sitewatch/console/schemas.py):
// times are ISO 8601 strings, scores 0..1, durations in seconds, sizes in bytes.

/**
 * @typedef {object} EdgeStats The edge's last health report (contract EdgeStats).
 * @property {string} at
 * @property {number} interval_s
 * @property {number | null} disk_hours_left
 * @property {number} outbox_depth
 * @property {number | null} inference_ms_p50
 * @property {number | null} inference_ms_p95
 * @property {number} frames_dropped_stale
 */

/**
 * @typedef {object} Site SiteOut.
 * @property {string} id
 * @property {string} name
 * @property {string} edge_state "online" | "offline" | "unknown"
 * @property {string | null} [software_version]
 * @property {string | null} [config_version]
 * @property {string | null} [last_seen_at]
 * @property {number} open_alerts
 * @property {EdgeStats | null} [stats]
 * @property {string | null} [timezone] IANA zone the edge reported
 * @property {ConfigRegressed | null} [config_regressed] runs an older config than it applied
 * @property {EdgeWarning[] | null} [warnings] the edge's standing warnings about its own settings
 */

/**
 * @typedef {object} EdgeWarning A standing problem the edge cannot fix itself
 *   (sitewatch/contract/edge_warnings.py).
 * @property {string} code shown as the language file's edge_warning.<code>
 * @property {Record<string, string>} params values of its {name} placeholders
 * @property {string} text the edge's English, for codes this page does not know
 */

/**
 * @typedef {object} ConfigRegressed An edge or camera reporting an older config version than
 *   the last change it applied.
 * @property {string} applied
 * @property {string} reported
 * @property {string} since
 */

/**
 * @typedef {object} CameraSettings CameraSettingsOut: as the edge reports them, passwords ***.
 * @property {string} name
 * @property {string} detect
 * @property {string | null} record
 * @property {number | null} detect_fps
 * @property {number | null} input_size
 * @property {boolean | null} [head_look] null: the detector's setting
 * @property {boolean | null} [coarse_look] null: the detector's setting
 * @property {boolean | null} [tile_look] null: the detector's setting
 */

/**
 * @typedef {object} User UserOut (also the signed-in user, /api/auth/me).
 * @property {string} username
 * @property {string} role
 * @property {string} language
 * @property {string[]} sites
 * @property {string[] | null} cameras "site/camera" entries; null: every camera of the sites
 * @property {boolean} active
 * @property {string[]} capabilities
 */

/**
 * @typedef {object} Evidence EvidenceOut.
 * @property {string} name
 * @property {string} kind
 * @property {string} sha256
 * @property {number} size_bytes
 * @property {string} content_type
 * @property {number | null} duration_s
 * @property {string} status "expected" | "stored" | "mismatch" | "deleted"
 * @property {string | null} url
 */

/**
 * @typedef {object} Alert AlertOut: one alert as the feed and the live stream carry it.
 * @property {string} id
 * @property {string} site_id
 * @property {string} camera_id
 * @property {string} rule
 * @property {number} track_id
 * @property {string} zone_id
 * @property {string} label
 * @property {number} score
 * @property {string} started_at
 * @property {string} last_seen_at
 * @property {string | null} ended_at
 * @property {number} seq
 * @property {string} config_version
 * @property {string} state
 * @property {string | null} assignee
 * @property {string} received_at
 * @property {string} updated_at
 * @property {string | null} [snapshot_url]
 * @property {number[]} [box] the best box, normalised x1, y1, x2, y2 (0..1)
 * @property {Pick<Evidence, "name" | "kind" | "status">[]} [evidence_files] each file it lists and
 *   whether it has arrived (a file's arrival sends the alert again)
 */

/**
 * @typedef {object} Incident IncidentOut: alerts of one camera, rule and zone close in time.
 * @property {string} id
 * @property {string} site_id
 * @property {string} camera_id
 * @property {string} rule
 * @property {string | null} zone_id
 * @property {string} state
 * @property {string | null} assignee
 * @property {string} first_at
 * @property {string} last_at
 * @property {number} alert_count
 * @property {number} new_alerts alerts of it still new
 * @property {string | null} best_alert_id
 * @property {number} best_score
 * @property {string} updated_at
 * @property {string | null} [snapshot_url]
 * @property {number[] | null} [box] the best alert's box, normalised (when the server sends it)
 * @property {string | null} [label] the best alert's label (when the server sends it)
 */

/**
 * @typedef {object} TimelineEntry
 * @property {number} seq
 * @property {string} event
 * @property {number} score
 * @property {string} last_seen_at
 * @property {string} received_at
 */

/**
 * @typedef {object} ActionRecord ActionOut: one step of an alert's history.
 * @property {string} at
 * @property {string} username
 * @property {string} action
 * @property {string} from_state
 * @property {string} to_state
 * @property {string | null} assignee
 * @property {string} note
 */

/**
 * @typedef {Alert & {
 *   timeline: TimelineEntry[],
 *   actions: ActionRecord[],
 *   evidence: Evidence[],
 *   allowed_actions?: string[],
 * }} AlertView AlertView: one alert with its track, history, evidence and allowed steps.
 */

/**
 * @typedef {object} Camera CameraOut.
 * @property {string} site_id
 * @property {string} camera_id
 * @property {string} name
 * @property {string} state
 * @property {number} fps_in
 * @property {number} fps_analysed
 * @property {number} frames_dropped
 * @property {number} reconnects
 * @property {string | null} last_frame_at
 * @property {string | null} error
 * @property {EdgeWarning[]} [warnings] the edge's standing warnings about its settings, each saying what to do
 * @property {string | null} config_version
 * @property {string | null} snapshot_url
 * @property {string | null} snapshot_at
 * @property {string | null} [last_alert_at]
 * @property {number} [open_alerts]
 * @property {ConfigRegressed | null} [config_regressed]
 * @property {CameraSettings | null} [settings]
 */

/**
 * @typedef {object} ConfigRequest ConfigRequestOut: one config change sent to an edge.
 * @property {string} request_id
 * @property {string} issued_at
 * @property {string} status "pending" | "applied" | "refused"
 * @property {string | null} version
 * @property {string | null} reason
 */

/** @typedef {[number, number]} Point A normalised 0..1 point [x, y]. */

/**
 * @typedef {object} Zone ZoneSpec as the editor holds it.
 * @property {string} id
 * @property {string} name
 * @property {string} kind
 * @property {Point[]} points
 */

/** @typedef {Record<string, Record<string, number | boolean>>} RuleThresholds */

/**
 * @typedef {object} CameraConfig CameraConfigOut.
 * @property {string | null} version
 * @property {Zone[]} zones
 * @property {RuleThresholds} [rules]
 * @property {ConfigRequest | null} [pending]
 */

/**
 * @typedef {object} VideoCamera One entry of GET /api/video/cameras (docs/design/live-video.md):
 *   a camera the user may watch. Times: Unix seconds or ISO (widgets/timeline.js toSeconds).
 * @property {string} site_id
 * @property {string} site_name
 * @property {string} camera_id
 * @property {string} name
 * @property {string} state camera state: "online" | "offline" | "stalled" | "unknown"
 * @property {string | null} error the camera's last error
 * @property {string} edge_state "online" | "offline" | "unknown"
 * @property {number | string | null} edge_since since when the edge is in that state
 * @property {string[]} streams "detect", and "record" where the camera has a main stream
 * @property {Record<string, {first: number | string, last: number | string}>} recorded per stream
 */

/**
 * @typedef {object} LiveInfo GET /api/video/live/{site}/{camera}/info: the live session.
 * @property {string} session
 * @property {number} viewers
 * @property {number} upstream_bytes bytes the edge uploaded in this session
 * @property {number} parts
 * @property {number | null} last_part_time the edge's clock at the newest fragment's first frame
 * @property {number | null} last_part_at the console's clock when it came
 * @property {string} mime
 */

/**
 * @typedef {object} VideoTimeline GET /api/video/timeline/{site}/{camera}: Unix seconds.
 * @property {{start: number | string, end: number | string}[]} spans recorded, oldest first
 * @property {{id: string, at: number | string, rule: string, state: string, incident_id: string | null}[]} alerts
 * @property {{id: string, first_at: number | string, last_at: number | string, rule: string, state: string}[]} incidents
 * @property {number} keep_s
 * @property {number | string | null} index_at
 * @property {{state: string, since: number | string | null}} edge
 * @property {{id: string, start: number, end: number, reason: string, by: string, at: number}[]} [holds] legal holds
 */

/**
 * @typedef {object} PlaybackWindow GET /api/video/playback/{site}/{camera}?at=: one cached
 *   window; start/end the wall clock (Unix s) of its first and last frame.
 * @property {string} url the MP4 (HTTP range requests)
 * @property {number} start
 * @property {number} end
 * @property {number} window_start
 * @property {number} window_end
 */

/**
 * @typedef {object} VideoExport GET /api/video/exports/{id}: a range cut at the edge.
 * @property {string} id
 * @property {string} state "pending" | "ready" | "failed" | "deleted" (by retention)
 * @property {string} site_id
 * @property {string} camera_id
 * @property {string} stream
 * @property {number | string} start
 * @property {number | string} end
 * @property {number | string | null} [actual_start]
 * @property {number | string | null} [actual_end]
 * @property {string | null} [sha256]
 * @property {number | null} [size_bytes]
 * @property {string | null} [error]
 * @property {string | null} [url]
 * @property {string | null} [alert_id]
 */

/**
 * @typedef {object} Ctx What app.js gives every view.
 * @property {User | null} me
 * @property {(cap: string) => boolean} can
 * @property {import("./live.js").Live} live
 * @property {Site[]} sites
 * @property {() => Promise<void>} refreshSites
 * @property {(hash: string) => void} navigate
 * @property {(ids: string[]) => void} remember
 * @property {(check: () => string | false | null) => void} guard
 */

/**
 * @typedef {(root: HTMLElement, ctx: Ctx, parts: string[], params: URLSearchParams)
 *   => (() => void) | void} Mount A view's entry: draws into root, returns its unmount.
 */

export {};
