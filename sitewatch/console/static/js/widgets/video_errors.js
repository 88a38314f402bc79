// @ts-check
// Why a camera's video cannot be shown, in the user's language: the console's video error
// codes (docs/design/live-video.md, "Faults the viewer sees"), with the edge's "offline
// since" and the camera's own error where known.

import { ApiError, codeText } from "../core/api.js";
import { fmtTime, t } from "../core/i18n.js";
import { toSeconds } from "./timeline.js";

/** @typedef {import("../core/types.js").VideoCamera} VideoCamera */

/**
 * @typedef {object} VideoFault
 * @property {string} code the code without its "video." prefix ("" when none came)
 * @property {number} status HTTP status (0: no answer)
 * @property {Record<string, unknown>} params
 * @property {string} detail
 */

/**
 * A fault from what failed: an ApiError, a live player's answer, or anything thrown.
 * @param {unknown} err
 * @returns {VideoFault}
 */
export function faultOf(err) {
  if (err instanceof ApiError) {
    const body = /** @type {any} */ (err.detail);
    return { code: err.code.replace(/^video\./, ""), status: err.status, params: (body && body.params) || {}, detail: err.message };
  }
  const any = /** @type {any} */ (err);
  if (any && typeof any === "object" && "code" in any) {
    return { code: String(any.code || "").replace(/^video\./, ""), status: Number(any.status) || 0, params: any.params || {}, detail: String(any.detail || "") };
  }
  return { code: "", status: 0, params: {}, detail: String(err) };
}

/**
 * The words for a fault of camera `cam` (its edge's state and the camera's error fill in
 * what the answer did not say).
 * @param {VideoFault} f
 * @param {VideoCamera | undefined} cam
 */
export function faultText(f, cam) {
  const p = f.params;
  const code = f.code === "video_busy" ? "busy" : f.code === "video_timeout" ? "timeout" : f.code;
  if (code === "edge_offline") {
    const since = toSeconds(/** @type {any} */ (p.since ?? cam?.edge_since ?? null));
    return Number.isFinite(since) ? t("video.err_edge_offline_since", { since: fmtTime(new Date(since * 1000).toISOString()) }) : t("video.err_edge_offline");
  }
  if (code === "camera_offline") return t("video.err_camera_offline", { error: String(p.error || cam?.error || "—") });
  if (code === "not_recorded") return t("video.err_not_recorded");
  if (code === "busy") return t("video.err_busy");
  if (code === "timeout") return t("video.err_timeout");
  if (code === "no_mse" || code === "mime_unsupported" || code === "unsupported") return t("video.err_unsupported");
  if (code === "network") return t("video.err_network");
  const coded = codeText(`video.${code}`, p) || codeText(code, p);
  if (coded) return coded;
  return f.detail || (f.status ? `HTTP ${f.status}` : t("video.err_network"));
}
