// @ts-check
// Cameras per site: stream state, analysed fps, latest snapshot, latest alert, open alerts.
// Camera and site changes arrive live.

import { api, errorText } from "../core/api.js";
import { debounce, fill, h } from "../core/dom.js";
import { fmtAgo, fmtNumber, fmtTime, has, t, tv } from "../core/i18n.js";
import { ALERT_STATES } from "../generated/enums.js";
import { cameraRegressBanner, siteRegressBanner } from "../widgets/config_regress.js";

/** @typedef {import("../core/types.js").Camera} Camera */
/** @typedef {import("../core/types.js").Ctx} Ctx */
/** @typedef {import("../core/types.js").EdgeWarning} EdgeWarning */
/** @typedef {import("../core/types.js").Site} Site */

const EVERY_STATE = ALERT_STATES.map((s) => `state=${s}`).join("&");

/**
 * An edge's warning in the page's language: edge_warning.<code> filled from its params; the
 * edge's English text for a code this page does not know (a newer edge's, or "other").
 * @param {EdgeWarning} w
 */
function warningText(w) {
  const key = `edge_warning.${w.code}`;
  return has(key) ? t(key, w.params) : w.text;
}

/**
 * The camera's latest snapshot, its time in the address (a new one is fetched, not cached).
 * @param {Camera} c
 */
function snapshotSrc(c) {
  if (!c.snapshot_url) return null;
  const sep = c.snapshot_url.includes("?") ? "&" : "?";
  return `${c.snapshot_url}${sep}at=${encodeURIComponent(c.snapshot_at || "")}`;
}

/**
 * @param {Camera} c
 * @param {Ctx} ctx
 */
function card(c, ctx) {
  const src = snapshotSrc(c);
  const key = `${c.site_id}/${c.camera_id}`;
  return h(
    "article",
    { class: ["camera", `cam-${c.state}`], dataset: { camera: key, state: c.state }, "aria-labelledby": `cam-${c.site_id}-${c.camera_id}` },
    h(
      "div",
      { class: "cam-shot" },
      src ? h("img", { src, alt: t("camera.snapshot_alt", { camera: c.name || c.camera_id }), loading: "lazy" }) : h("span", { class: "placeholder", text: t("camera.no_snapshot") }),
      h("span", { class: `badge cam-state state-${c.state}`, text: tv("camera_state", c.state) }),
    ),
    h("h3", { id: `cam-${c.site_id}-${c.camera_id}` }, c.name || c.camera_id, c.name && c.name !== c.camera_id ? h("span", { class: "muted small", text: ` ${c.camera_id}` }) : null),
    h(
      "dl",
      { class: "facts small" },
      h("dt", { text: t("camera.fps") }),
      h("dd", { text: t("camera.fps_value", { analysed: fmtNumber(c.fps_analysed, 1), input: fmtNumber(c.fps_in, 1) }) }),
      h("dt", { text: t("camera.last_frame") }),
      h("dd", { title: fmtTime(c.last_frame_at), text: c.last_frame_at ? fmtAgo(c.last_frame_at) : "—" }),
      h("dt", { text: t("camera.dropped") }),
      h("dd", { text: t("camera.dropped_value", { dropped: c.frames_dropped, reconnects: c.reconnects }) }),
      h("dt", { text: t("camera.last_alert") }),
      h("dd", {}, c.last_alert_at ? h("a", { href: `#/alerts?site=${encodeURIComponent(c.site_id)}&camera=${encodeURIComponent(c.camera_id)}&${EVERY_STATE}&order=newest`, text: fmtAgo(c.last_alert_at), title: fmtTime(c.last_alert_at) }) : "—"),
      h("dt", { text: t("camera.open_alerts") }),
      h("dd", {}, h("a", { class: c.open_alerts ? "open-count has-open" : "open-count", href: `#/alerts?site=${encodeURIComponent(c.site_id)}&camera=${encodeURIComponent(c.camera_id)}`, text: String(c.open_alerts) })),
      h("dt", { text: t("camera.config_version") }),
      h("dd", { text: c.config_version || "—" }),
    ),
    c.error && h("p", { class: "error small", text: c.error }),
    ...(c.warnings || []).map((w) => h("p", { class: "camera-warning small", "data-code": w.code, text: warningText(w) })),
    cameraRegressBanner(c, ctx),
    ctx.can("video.view") && h("a", { class: "button camera-live", href: `#/live/${encodeURIComponent(c.site_id)}/${encodeURIComponent(c.camera_id)}`, text: t("camera.live") }),
    ctx.can("video.view") && h("a", { class: "button camera-playback", href: `#/live/${encodeURIComponent(c.site_id)}/${encodeURIComponent(c.camera_id)}?at=${Math.floor(Date.now() / 1000 - 600)}`, text: t("camera.playback") }),
    ctx.can("config.write") && h("a", { class: "button", href: `#/zones/${encodeURIComponent(c.site_id)}/${encodeURIComponent(c.camera_id)}`, text: t("camera.edit_zones") }),
    ctx.can("config.write") && h("a", { class: "button camera-edit", href: `#/camera/${encodeURIComponent(c.site_id)}/${encodeURIComponent(c.camera_id)}`, text: t("camera.edit_camera") }),
  );
}

const DISK_WARN_HOURS = 24; // less recording time left than a day: someone must act
const OUTBOX_WARN = 100; // messages waiting at the edge: the link to the broker is poor

/**
 * The edge's health from its last stats: disk, outbox, detector; warnings stand out.
 * @param {Site} site
 */
function edgeHealth(site) {
  const st = site.stats;
  if (!st) return null;
  const hours = st.disk_hours_left;
  const stale = Date.now() - Date.parse(st.at) > 3 * st.interval_s * 1000;
  /** @type {[string, string, boolean][]} label, value, whether it is a warning */
  const items = [
    [t("edge.disk"), hours == null ? "—" : t("edge.hours", { n: fmtNumber(hours, 0) }), hours != null && hours < DISK_WARN_HOURS],
    [t("edge.outbox"), String(st.outbox_depth), st.outbox_depth > OUTBOX_WARN],
    [t("edge.inference"), t("edge.ms", { p50: fmtNumber(st.inference_ms_p50, 0), p95: fmtNumber(st.inference_ms_p95, 0) }), false],
    [t("edge.stale"), String(st.frames_dropped_stale), false],
    [t("edge.stats_at"), fmtAgo(st.at), stale],
  ];
  return h(
    "dl",
    { class: "facts small edge-health", dataset: { warn: String(items.some((i) => i[2])) } },
    items.flatMap(([k, v, warn]) => [h("dt", { text: k }), h("dd", { class: warn ? "warn" : null, text: warn ? `⚠ ${v}` : v })]),
  );
}

/**
 * @param {Site} site
 * @param {Ctx} ctx
 */
function siteHeader(site, ctx) {
  return h(
    "div",
    { class: "site-head" },
    h("h2", {}, site.name || site.id, " ", h("span", { class: `badge edge-${site.edge_state}`, text: tv("edge", site.edge_state) })),
    h(
      "p",
      { class: "muted small" },
      t("site.facts", {
        id: site.id,
        software: site.software_version || "—",
        config: site.config_version || "—",
        seen: site.last_seen_at ? fmtAgo(site.last_seen_at) : "—",
      }),
    ),
    edgeHealth(site),
    ...(site.warnings || []).map((w) => h("p", { class: "site-warning small", "data-code": w.code, text: warningText(w) })),
    siteRegressBanner(site),
    ctx.can("config.write") && h("p", { class: "site-tools" }, h("a", { class: "button camera-add", href: `#/camera/${encodeURIComponent(site.id)}`, text: t("camera.add") }), " ", renameButton(site, ctx)),
  );
}

/**
 * Rename the site (its display name, shown instead of its id).
 * @param {Site} site
 * @param {Ctx} ctx
 */
function renameButton(site, ctx) {
  const button = h("button", { type: "button", class: "site-rename", text: t("site.rename") });
  button.addEventListener("click", async () => {
    const name = window.prompt(t("site.rename_prompt", { id: site.id }), site.name || "");
    if (name === null) return;
    try {
      await api(`/api/sites/${encodeURIComponent(site.id)}`, { method: "PATCH", body: { name } });
      await ctx.refreshSites();
    } catch (err) {
      window.alert(t("site.rename_failed", { detail: errorText(err) }));
    }
  });
  return button;
}

/** @type {import("../core/types.js").Mount} */
export function mount(root, ctx) {
  /** @type {Camera[]} */
  let list = [];
  const body = h("div", { id: "cameras" });
  const error = h("p", { class: "error", role: "alert" });
  fill(root, h("h1", { text: t("camera.title") }), error, body);

  const paint = () => {
    /** @type {Map<string, Camera[]>} */
    const bySite = new Map();
    for (const c of list) {
      const cams = bySite.get(c.site_id) || [];
      cams.push(c);
      bySite.set(c.site_id, cams);
    }
    const siteIds = [...new Set([...ctx.sites.map((s) => s.id), ...bySite.keys()])];
    if (!siteIds.length) {
      fill(body, h("p", { class: "empty", text: t("camera.none") }));
      return;
    }
    fill(
      body,
      siteIds.map((id) => {
        /** @type {Site} */
        const site = ctx.sites.find((s) => s.id === id) || { id, name: id, edge_state: "unknown", open_alerts: 0 };
        const cams = (bySite.get(id) || []).sort((a, b) => a.camera_id.localeCompare(b.camera_id));
        return h("section", { class: "site", dataset: { site: id } }, siteHeader(site, ctx), cams.length ? h("div", { class: "camera-grid" }, cams.map((c) => card(c, ctx))) : h("p", { class: "muted", text: t("camera.none_site") }));
      }),
    );
  };

  const load = async () => {
    try {
      list = await api("/api/cameras");
      error.textContent = "";
      paint();
    } catch (err) {
      error.textContent = t("camera.load_failed", { detail: errorText(err) });
    }
  };
  const reload = debounce(load, 500);
  /** @param {Camera} c a camera's new status (merged into what is listed) */
  const onCamera = (c) => {
    const i = list.findIndex((x) => x.site_id === c.site_id && x.camera_id === c.camera_id);
    if (i >= 0) list[i] = { ...list[i], ...c };
    else list.push(c);
    paint();
  };
  const offs = [ctx.live.on("camera", onCamera), ctx.live.on("site", reload), ctx.live.on("alert", reload), ctx.live.on("config", reload), ctx.live.on("open", load)];
  const tick = setInterval(paint, 30000);
  load();
  return () => {
    offs.forEach((off) => off());
    clearInterval(tick);
  };
}
