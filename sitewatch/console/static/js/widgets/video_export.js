// @ts-check
// Export a chosen range of a camera's recording as evidence: from/to (the site's wall clock,
// to the second; "from here"/"to here" take the moment playing), POST /api/video/exports,
// then the export's state until it is ready: its file, SHA-256 and size, or why it failed.
// The same range can be put on legal hold (with a reason): POST /api/video/holds; the edge
// then keeps it until the hold is released there, and the timeline shows it.

import { api, errorText } from "../core/api.js";
import { fill, h } from "../core/dom.js";
import { fmtBytes, fromZoneInput, t, toZoneInput, tv } from "../core/i18n.js";

const POLL_MS = 1000;
const MAX_RANGE_S = 3600; // MAX_VIDEO_RANGE_S of the contract
const MAX_HOLD_S = 8 * 86400; // MAX_HOLD_S of the contract

/** @typedef {import("../core/types.js").VideoExport} VideoExport */

/**
 * "YYYY-MM-DDTHH:MM:SS" of Unix seconds as the wall clock in `zone`.
 * @param {number} s
 * @param {string} [zone]
 */
export function inputValue(s, zone) {
  const d = new Date(Math.floor(s) * 1000);
  return `${toZoneInput(d.toISOString(), zone)}:${String(d.getUTCSeconds()).padStart(2, "0")}`;
}

/**
 * Unix seconds of an input's "YYYY-MM-DDTHH:MM[:SS]" wall clock in `zone` (NaN if none).
 * @param {string} value
 * @param {string} [zone]
 */
export function inputSeconds(value, zone) {
  const iso = fromZoneInput(value, zone);
  if (!iso) return NaN;
  const sec = /^.{16}:(\d{2})/.exec(value);
  return Date.parse(iso) / 1000 + (sec ? Number(sec[1]) : 0);
}

/**
 * The export form of one camera.
 * @param {{site: string, camera: string, stream: string, zone?: string,
 *   position: () => number, alertId?: string, onHeld?: () => void}} options `position`: the
 *   moment playing (NaN: none); `onHeld`: after a legal hold on the range was put
 */
export function videoExport({ site, camera, stream, zone, position, alertId, onHeld }) {
  const now = Date.now() / 1000;
  const fromInput = h("input", { type: "datetime-local", id: "export-from", step: 1, value: inputValue(now - 90, zone) });
  const toInput = h("input", { type: "datetime-local", id: "export-to", step: 1, value: inputValue(now - 30, zone) });
  const status = h("div", { id: "export-status", class: "export-status", role: "status" });
  const button = h("button", { type: "button", id: "export-start", class: "primary", text: t("video.export_start") });
  const reasonInput = h("input", { type: "text", id: "hold-reason", maxlength: 500, placeholder: t("video.hold_reason_hint") });
  const holdButton = h("button", { type: "button", id: "hold-start", text: t("video.hold_start") });
  /** @param {HTMLInputElement} input */
  const here = (input) => () => {
    const at = position();
    if (Number.isFinite(at)) input.value = inputValue(at, zone);
  };
  let polling = 0;

  /** @param {VideoExport} x */
  const paint = (x) => {
    status.dataset.state = x.state;
    status.dataset.id = x.id;
    if (x.state === "ready") {
      status.dataset.sha256 = x.sha256 || "";
      fill(
        status,
        h("p", { class: "done", text: t("video.export_ready") }),
        h("p", {}, h("a", { id: "export-file", href: x.url || `/api/video/exports/${encodeURIComponent(x.id)}/file`, download: `${site}-${camera}-${x.id}.mp4`, text: t("video.export_download") })),
        h("p", { class: "small" }, `SHA-256 `, h("code", { class: "sha", text: x.sha256 || "—" }), ` · ${fmtBytes(x.size_bytes || 0)}`),
      );
    } else if (x.state === "failed") {
      fill(status, h("p", { class: "error", text: t("video.export_failed", { detail: x.error || "—" }) }));
    } else if (x.state === "deleted") {
      fill(status, h("p", { class: "muted", text: t("video.export_deleted", { detail: x.error || "—" }) }));
    } else {
      fill(status, h("p", { class: "muted", text: t("video.export_pending", { state: tv("video.export_state", x.state) }) }));
    }
  };

  /** @param {string} id */
  const poll = async (id) => {
    const mine = ++polling;
    while (mine === polling) {
      try {
        /** @type {VideoExport} */
        const x = await api(`/api/video/exports/${encodeURIComponent(id)}`);
        if (mine !== polling) return;
        paint(x);
        if (x.state !== "pending") return;
      } catch (err) {
        fill(status, h("p", { class: "error", text: errorText(err) }));
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  };

  button.addEventListener("click", async () => {
    const start = inputSeconds(fromInput.value, zone);
    const end = inputSeconds(toInput.value, zone);
    if (!(end > start) || end - start > MAX_RANGE_S) {
      status.dataset.state = "invalid";
      fill(status, h("p", { class: "error", text: t("video.export_range_invalid", { max: MAX_RANGE_S / 60 }) }));
      return;
    }
    button.disabled = true;
    try {
      /** @type {VideoExport} */
      const x = await api("/api/video/exports", { method: "POST", body: { site_id: site, camera_id: camera, stream, start, end, alert_id: alertId || null } });
      paint(x);
      await poll(x.id);
    } catch (err) {
      status.dataset.state = "refused";
      fill(status, h("p", { class: "error", text: t("video.export_refused", { detail: errorText(err) }) }));
    } finally {
      button.disabled = false;
    }
  });

  holdButton.addEventListener("click", async () => {
    const start = inputSeconds(fromInput.value, zone);
    const end = inputSeconds(toInput.value, zone);
    const reason = reasonInput.value.trim();
    if (!(end > start) || end - start > MAX_HOLD_S || !reason) {
      status.dataset.state = "invalid";
      fill(status, h("p", { class: "error", text: t("video.hold_invalid", { days: MAX_HOLD_S / 86400 }) }));
      return;
    }
    holdButton.disabled = true;
    fill(status, h("p", { class: "muted", text: t("video.hold_pending") }));
    try {
      /** @type {{id: string, start: number, end: number, reason: string}} */
      const x = await api("/api/video/holds", { method: "POST", body: { site_id: site, camera_id: camera, start, end, reason } });
      status.dataset.state = "held";
      status.dataset.id = x.id;
      fill(status, h("p", { class: "done", text: t("video.hold_done") }));
      if (onHeld) onHeld();
    } catch (err) {
      status.dataset.state = "refused";
      fill(status, h("p", { class: "error", text: t("video.hold_refused", { detail: errorText(err) }) }));
    } finally {
      holdButton.disabled = false;
    }
  });

  const el = h(
    "section",
    { class: "video-export panel", "aria-labelledby": "export-title" },
    h("h2", { id: "export-title", text: t("video.export_title") }),
    h(
      "div",
      { class: "export-fields" },
      h("label", { class: "field" }, h("span", { text: t("video.export_from") }), fromInput, h("button", { type: "button", class: "link", onclick: here(fromInput), text: t("video.export_here") })),
      h("label", { class: "field" }, h("span", { text: t("video.export_to") }), toInput, h("button", { type: "button", class: "link", onclick: here(toInput), text: t("video.export_here") })),
    ),
    button,
    h("label", { class: "field" }, h("span", { text: t("video.hold_reason") }), reasonInput),
    holdButton,
    status,
  );
  return { el, stop: () => (polling += 1) };
}
