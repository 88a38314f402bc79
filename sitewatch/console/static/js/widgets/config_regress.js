// @ts-check
// The warning that an edge went back to an older config than the one it had applied
// (config_regressed on a camera or a site), and for a camera the button that re-sends the
// lost change (POST .../config/resend) and follows the edge's answer.

import { api, errorText } from "../core/api.js";
import { h } from "../core/dom.js";
import { fmtTime, t } from "../core/i18n.js";
import { ConfigTracker } from "./config_tracker.js";

/** @typedef {import("../core/types.js").Camera} Camera */
/** @typedef {import("../core/types.js").Ctx} Ctx */
/** @typedef {import("../core/types.js").Site} Site */

/**
 * The camera's warning, with the re-send for users who may change config; null when the
 * camera lost nothing.
 * @param {Camera} c
 * @param {Ctx} ctx
 * @returns {HTMLElement | null}
 */
export function cameraRegressBanner(c, ctx) {
  const lost = c.config_regressed;
  if (!lost) return null;
  const vars = { applied: lost.applied, reported: lost.reported, since: fmtTime(lost.since) };
  const box = h("div", { class: "banner regress", role: "alert", dataset: { regressed: "camera" } }, h("span", { text: t("regress.camera", vars) }));
  if (!ctx.can("config.write")) return box;
  const status = h("span", { class: "config-status", role: "status" });
  const button = h("button", { type: "button", class: "regress-resend", text: t("regress.resend") });
  button.addEventListener("click", async () => {
    button.disabled = true;
    const url = `/api/cameras/${encodeURIComponent(c.site_id)}/${encodeURIComponent(c.camera_id)}/config/resend`;
    let request;
    try {
      request = await api(url, { method: "POST" });
    } catch (err) {
      status.textContent = t("regress.resend_failed", { detail: errorText(err) });
      button.disabled = false;
      return;
    }
    const tracker = new ConfigTracker(ctx, status, () => tracker.stop());
    tracker.follow(request);
  });
  box.append(" ", button, " ", status);
  return box;
}

/**
 * The site's warning (its edge as a whole runs an older config); null when it does not.
 * @param {Site} site
 * @returns {HTMLElement | null}
 */
export function siteRegressBanner(site) {
  const lost = site.config_regressed;
  if (!lost) return null;
  const vars = { applied: lost.applied, reported: lost.reported, since: fmtTime(lost.since) };
  return h("p", { class: "banner regress", role: "alert", dataset: { regressed: "site" }, text: t("regress.site", vars) });
}
