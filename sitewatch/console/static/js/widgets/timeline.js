// @ts-check
// A camera's recording timeline over [from, to]: recorded spans as a bar, legal holds as
// hatched bands on it, incidents as bands and alerts as markers above it, the moment shown as a cursor, and a scrubber (a range
// input: keyboard and touch work, phones too) that picks a moment. Clicking the bar or an
// alert marker picks too. Times are Unix seconds.

import { h } from "../core/dom.js";
import { fmtTime, t, tv } from "../core/i18n.js";

/**
 * @typedef {import("../core/types.js").VideoTimeline} VideoTimeline
 */

/**
 * Unix seconds of a time the API sends as a number or as an ISO string (NaN for none).
 * @param {number | string | null | undefined} v
 */
export function toSeconds(v) {
  if (v === null || v === undefined || v === "") return NaN;
  return typeof v === "number" ? v : Date.parse(v) / 1000;
}

/**
 * The timeline of [from, to] drawn from `data`; `onPick(at)` when the user picks a moment.
 * Returns its element and `mark(at)` to move the cursor while the video plays.
 * @param {{from: number, to: number, data: VideoTimeline, zone?: string,
 *   onPick: (at: number) => void, at?: number}} options
 */
export function timeline({ from, to, data, zone, onPick, at }) {
  const span = Math.max(1, to - from);
  /** @param {number} s */
  const pct = (s) => `${(Math.min(Math.max(s, from), to) - from) / span * 100}%`;
  /** @param {number} s */
  const when = (s) => fmtTime(new Date(s * 1000).toISOString(), zone);
  /** @param {number} a @param {number} b */
  const band = (a, b) => ({ left: pct(a), width: `${Math.max(0.3, (Math.min(b, to) - Math.max(a, from)) / span * 100)}%` });

  const spans = data.spans
    .map((s) => [toSeconds(s.start), toSeconds(s.end)])
    .filter(([a, b]) => /** @type {number} */ (b) > from && /** @type {number} */ (a) < to)
    .map(([a, b]) => h("span", { class: "tl-span", style: band(/** @type {number} */ (a), /** @type {number} */ (b)), title: t("video.recorded_span", { from: when(/** @type {number} */ (a)), to: when(/** @type {number} */ (b)) }) }));
  const incidents = data.incidents
    .map((i) => ({ i, a: toSeconds(i.first_at), b: toSeconds(i.last_at) }))
    .filter(({ a, b }) => b >= from && a <= to)
    .map(({ i, a, b }) => h("span", { class: "tl-incident", style: band(a, b), dataset: { id: i.id, state: i.state }, title: t("video.incident_marker", { rule: tv("rule", i.rule), state: tv("state", i.state), at: when(a) }) }));
  const holds = (data.holds || [])
    .filter((x) => x.end > from && x.start < to)
    .map((x) => h("span", { class: "tl-hold", style: band(x.start, x.end), dataset: { id: x.id }, title: t("video.hold_marker", { from: when(x.start), to: when(x.end), reason: x.reason, by: x.by }) }));
  const alerts = data.alerts
    .map((a) => ({ a, s: toSeconds(a.at) }))
    .filter(({ s }) => s >= from && s <= to)
    .map(({ a, s }) =>
      h("button", {
        type: "button",
        class: `tl-alert state-${a.state}`,
        style: { left: pct(s) },
        dataset: { id: a.id, at: String(s) },
        title: t("video.alert_marker", { rule: tv("rule", a.rule), state: tv("state", a.state), at: when(s) }),
        "aria-label": t("video.alert_marker", { rule: tv("rule", a.rule), state: tv("state", a.state), at: when(s) }),
        onclick: () => pick(s - ALERT_LEAD_S),
      }),
    );
  const cursor = h("span", { class: "tl-cursor", hidden: true, "aria-hidden": "true" });
  const bar = h("div", { class: "tl-bar", title: t("video.timeline_click") }, spans, holds, incidents, cursor);
  const marks = h("div", { class: "tl-marks" }, alerts);
  const scrub = h("input", { type: "range", id: "timeline-scrub", class: "tl-scrub", min: Math.floor(from), max: Math.ceil(to), step: 1, value: String(Math.round(at ?? to)), "aria-label": t("video.scrub") });
  const shown = h("output", { class: "tl-time", for: "timeline-scrub" });

  /** @param {number} s */
  const pick = (s) => {
    mark(s);
    onPick(s);
  };
  /** @param {number} s */
  const mark = (s) => {
    if (!Number.isFinite(s)) return;
    cursor.hidden = s < from || s > to;
    cursor.style.left = pct(s);
    if (document.activeElement !== scrub) scrub.value = String(Math.round(s));
    shown.textContent = when(s);
  };
  scrub.addEventListener("input", () => (shown.textContent = when(Number(scrub.value))));
  scrub.addEventListener("change", () => pick(Number(scrub.value)));
  bar.addEventListener("click", (event) => {
    const box = bar.getBoundingClientRect();
    if (box.width > 0) pick(from + ((event.clientX - box.left) / box.width) * span);
  });
  if (at !== undefined) mark(at);

  const el = h(
    "div",
    { class: "timeline", id: "timeline", dataset: { from: String(from), to: String(to), spans: String(spans.length), alerts: String(alerts.length), holds: String(holds.length) } },
    marks,
    bar,
    scrub,
    h("div", { class: "tl-ends muted small" }, h("span", { text: when(from) }), shown, h("span", { text: when(to) })),
  );
  return { el, mark };
}

/** An alert marker plays from this long before the alert began, s. */
const ALERT_LEAD_S = 5;
