// @ts-check
// One alert: snapshot, clip, the track's timeline, the workflow actions the user may take
// in its current state, the history of actions, the evidence files and the police export.
// "Assign" offers the users who may take the alert (GET /api/alerts/{id}/assignees: active,
// may work alerts, see its site and camera), so a manager needs no list of all users.
// "Ignore this spot" (config.write) turns the alert's box into a mask zone on its camera
// (POST /api/alerts/{id}/mask) and follows the edge's answer as the zone editor does.

import { cameraLabel, siteLabel, zoneLabel } from "../core/names.js";
import { api, errorText, statusOf } from "../core/api.js";
import { debounce, fill, h } from "../core/dom.js";
import { fmtBytes, fmtNumber, fmtTime, siteZone, t, tv, tzLabel } from "../core/i18n.js";
import { sparkline } from "../widgets/chart.js";
import { ConfigTracker } from "../widgets/config_tracker.js";
import { evidenceCrop } from "../widgets/evidence_crop.js";

/** @typedef {import("../core/types.js").AlertView} AlertView */
/** @typedef {import("../core/types.js").Ctx} Ctx */

/**
 * The alert's facts. Times are shown in the site's zone when its edge reported one (else this
 * browser's): `zone`.
 * @param {AlertView} a
 * @param {string | undefined} zone
 * @param {Ctx} ctx
 */
function facts(a, zone, ctx) {
  /** @type {[string, string | Node][]} dictionary key, value */
  const rows = [
    ["alert.site", siteLabel(ctx, a.site_id)],
    ["alert.camera", cameraLabel(a.site_id, a.camera_id)],
    ["alert.zone", zoneLabel(a.site_id, a.camera_id, a.zone_id)],
    ["alert.label", tv("label", a.label)],
    ["alert.score", fmtNumber(a.score, 2)],
    ["alert.track", String(a.track_id)],
    ["alert.started", fmtTime(a.started_at, zone)],
    ["alert.last_seen", fmtTime(a.last_seen_at, zone)],
    ["alert.ended", a.ended_at ? fmtTime(a.ended_at, zone) : t("feed.ongoing")],
    ["alert.received", fmtTime(a.received_at, zone)],
    ["alert.timezone", tzLabel(zone, a.started_at)],
    ["alert.assignee", a.assignee || "—"],
    ["alert.config_version", a.config_version],
    ["alert.id", a.id],
  ];
  return h("dl", { class: "facts" }, rows.map(([k, v]) => [h("dt", { text: t(k) }), h("dd", {}, v)]));
}

// the only types the console serves (sitewatch/console/api/routes/evidence.py); a file of another type,
// stored by an older release, is listed but not opened: it leaves only in the export package
const SERVED = new Set(["image/jpeg", "video/mp4"]);

/**
 * The snapshot (a link to the full still beside it when there is one) and the clip.
 * @param {AlertView} a
 */
function media(a) {
  /** @param {string} kind */
  const stored = (kind) => a.evidence.find((e) => e.kind === kind && e.status === "stored" && e.url && SERVED.has(e.content_type));
  const snap = stored("snapshot") || stored("snapshot_clean");
  const clip = stored("clip");
  const waiting = a.evidence.some((e) => e.status === "expected");
  // a click on the snapshot opens the full-resolution still with its box (else the clean
  // still, else the snapshot itself) at full size; the close-up is cut from the same picture
  const still = stored("still_annotated") || stored("still");
  const full = still || snap;
  const caption = h("figcaption", {}, t("alert.snapshot"), still ? [" · ", h("a", { id: "still-link", href: still.url, target: "_blank", rel: "noopener", text: t("alert.still") })] : null);
  const crop = full && full.url ? evidenceCrop(full.url, a.box, a.label, { width: 150, height: 200, alt: t("crop.alt", { label: tv("label", a.label) }), className: "large" }) : null;
  const snapshot =
    snap && full
      ? h(
          "figure",
          {},
          h(
            "div",
            { class: "evidence-pair large" },
            h("a", { id: "snapshot-open", href: full.url, target: "_blank", rel: "noopener", title: t("alert.open_still") }, h("img", { id: "snapshot", src: snap.url, alt: t("alert.snapshot_alt", { rule: tv("rule", a.rule), camera: a.camera_id }) })),
            crop && h("a", { href: full.url, target: "_blank", rel: "noopener", title: t("alert.open_still") }, crop),
          ),
          caption,
        )
      : h("p", { class: "placeholder", text: waiting ? t("alert.evidence_waiting") : t("alert.no_snapshot") });
  const video = clip
    ? h(
        "figure",
        {},
        h("video", { id: "clip", src: clip.url, controls: true, preload: "metadata", playsinline: true, muted: true }, t("alert.no_video_support")),
        h("figcaption", { text: clip.duration_s ? t("alert.clip_len", { s: fmtNumber(clip.duration_s, 1) }) : t("alert.clip") }),
      )
    : h("p", { class: "placeholder", id: "clip-missing", text: waiting ? t("alert.evidence_waiting") : a.ended_at ? t("alert.no_clip") : t("alert.clip_after_end") });
  return h("section", { class: "media", "aria-label": t("alert.media") }, snapshot, video);
}

/**
 * The track's scores over time, as a chart and a table.
 * @param {AlertView} a
 * @param {string | undefined} zone
 */
function timeline(a, zone) {
  const points = a.timeline.map((e) => ({
    t: new Date(e.last_seen_at).getTime(),
    v: e.score,
    label: `#${e.seq} ${tv("event", e.event)} · ${fmtTime(e.last_seen_at, zone)} · ${fmtNumber(e.score, 2)}`,
  }));
  const list = h(
    "table",
    { class: "compact timeline" },
    h("thead", {}, h("tr", {}, ["timeline.seq", "timeline.event", "timeline.seen", "timeline.score", "timeline.received"].map((k) => h("th", { scope: "col", text: t(k) })))),
    h(
      "tbody",
      {},
      a.timeline.map((e) => h("tr", {}, h("td", { text: String(e.seq) }), h("td", { text: tv("event", e.event) }), h("td", { text: fmtTime(e.last_seen_at, zone) }), h("td", { class: "num", text: fmtNumber(e.score, 2) }), h("td", { text: fmtTime(e.received_at, zone) }))),
    ),
  );
  return h("section", { class: "panel", "aria-labelledby": "tl-title" }, h("h2", { id: "tl-title", text: t("timeline.title") }), sparkline(points, { label: t("timeline.chart", { n: points.length }) }), list);
}

/**
 * The workflow steps taken, with their notes.
 * @param {AlertView} a
 * @param {string | undefined} zone
 */
function history(a, zone) {
  const items = a.actions.map((x) =>
    h(
      "li",
      {},
      h("div", {}, h("strong", { text: tv("action", x.action) }), " · ", h("span", { text: x.username }), " · ", h("time", { datetime: x.at, text: fmtTime(x.at, zone) })),
      // a note changes nothing: no "assigned → assigned" line under it
      (x.from_state !== x.to_state || x.assignee) && h("div", { class: "muted small", text: `${tv("state", x.from_state)} → ${tv("state", x.to_state)}${x.assignee ? ` (${x.assignee})` : ""}` }),
      x.note && h("blockquote", { text: x.note }),
    ),
  );
  return h("section", { class: "panel", "aria-labelledby": "hist-title" }, h("h2", { id: "hist-title", text: t("history.title") }), items.length ? h("ol", { class: "history", id: "history" }, items) : h("p", { class: "muted", text: t("history.none") }));
}

/**
 * The evidence files with their hashes, the export link and the chain-of-custody link.
 * @param {AlertView} a
 * @param {Ctx} ctx
 */
function evidenceList(a, ctx) {
  const rows = a.evidence.map((e) =>
    h(
      "tr",
      {},
      h("td", {}, e.url && SERVED.has(e.content_type) ? h("a", { href: e.url, target: "_blank", rel: "noopener", title: e.name, text: e.name }) : e.url ? h("span", { class: "not-served", title: t("evidence.not_served", { type: e.content_type }), text: e.name }) : e.name),
      h("td", { text: tv("kind", e.kind) }),
      h("td", { class: "num", text: fmtBytes(e.size_bytes) }),
      h("td", { class: `ev-${e.status}`, text: tv("evidence", e.status) }),
      h("td", { class: "hash" }, h("code", { title: e.sha256, text: `${e.sha256.slice(0, 16)}…` })),
    ),
  );
  const exportLink = ctx.can("evidence.export")
    ? h("a", { class: "button primary", id: "export", href: `/api/alerts/${encodeURIComponent(a.id)}/export`, download: `sitewatch-${a.id}.zip`, text: t("evidence.export") })
    : null;
  return h(
    "section",
    { class: "panel", "aria-labelledby": "ev-title" },
    h("h2", { id: "ev-title", text: t("evidence.title") }),
    rows.length
      ? h("table", { class: "compact" }, h("thead", {}, h("tr", {}, ["evidence.name", "evidence.kind", "evidence.size", "evidence.status", "evidence.sha256"].map((k) => h("th", { scope: "col", text: t(k) })))), h("tbody", {}, rows))
      : h("p", { class: "muted", text: t("evidence.none") }),
    exportLink && h("p", {}, exportLink, " ", h("span", { class: "muted small", text: t("evidence.export_hint") })),
    ctx.can("audit.read") && h("p", {}, h("a", { id: "custody-link", href: `#/audit?alert=${encodeURIComponent(a.id)}`, text: t("evidence.custody") })),
  );
}

/**
 * A <select> of the users the alert can be assigned to, filled once the server answers.
 * @param {AlertView} a
 */
function assigneeSelect(a) {
  const select = h("select", { id: "action-assignee", "aria-busy": "true" }, h("option", { value: "", text: t("app.loading") }));
  api(`/api/alerts/${encodeURIComponent(a.id)}/assignees`)
    .then((/** @type {{username: string, role: string}[]} */ users) => {
      const options = users.map((u) => h("option", { value: u.username, selected: u.username === a.assignee, text: `${u.username} (${tv("role", u.role)})` }));
      fill(select, h("option", { value: "", text: users.length ? t("action.choose_assignee") : t("action.no_assignees") }), options);
      select.dataset.loaded = String(users.length);
    })
    .catch((err) => {
      fill(select, h("option", { value: "", text: t("action.assignees_failed", { detail: errorText(err) }) }));
    })
    .finally(() => select.removeAttribute("aria-busy"));
  return select;
}

/**
 * The steps the server says this user may take now (from the workflow's table and the role).
 * @param {AlertView} a
 * @param {(next: AlertView) => void} onDone called with the alert as the step left it
 */
function actions(a, onDone) {
  const allowed = a.allowed_actions || [];
  if (!allowed.length) return null;
  const note = h("textarea", { id: "action-note", rows: 3, maxlength: 4000 });
  const assignee = allowed.includes("assign") ? assigneeSelect(a) : null;
  const message = h("p", { class: "error", role: "alert", id: "action-error" });
  /**
   * @param {string} action
   * @param {HTMLButtonElement} button
   */
  const send = async (action, button) => {
    message.textContent = "";
    /** @type {{action: string, note: string, assignee?: string}} */
    const body = { action, note: note.value.trim() };
    if (action === "assign" && assignee) {
      if (!assignee.value) {
        message.textContent = t("action.need_assignee");
        assignee.focus();
        return;
      }
      body.assignee = assignee.value;
    }
    if (action === "note" && !body.note) {
      message.textContent = t("action.need_note");
      note.focus();
      return;
    }
    button.disabled = true;
    try {
      onDone(await api(`/api/alerts/${encodeURIComponent(a.id)}/actions`, { method: "POST", body }));
    } catch (err) {
      message.textContent = t("action.failed", { detail: errorText(err) });
      button.disabled = false;
    }
  };
  const buttons = allowed.map((action) => {
    const b = h("button", { type: "button", class: ["action", `action-${action}`, action === "acknowledge" && "primary"], dataset: { action }, text: tv("action", action) });
    b.addEventListener("click", () => send(action, b));
    return b;
  });
  return h(
    "section",
    { class: "panel actions", "aria-labelledby": "act-title" },
    h("h2", { id: "act-title", text: t("action.title") }),
    h("div", { class: "field" }, h("label", { for: "action-note", text: t("action.note") }), note),
    assignee && h("div", { class: "field" }, h("label", { for: "action-assignee", text: t("action.assignee") }), assignee),
    h("div", { class: "buttons", id: "workflow" }, buttons),
    message,
  );
}

/**
 * "Ignore this spot" (config.write): the panel and a stop function (the tracker listens to
 * live events), or null.
 * @param {AlertView} a
 * @param {Ctx} ctx
 */
function maskPanel(a, ctx) {
  if (!ctx.can("config.write")) return null;
  const status = h("p", { id: "mask-status", class: "config-status", role: "status", "aria-live": "polite" });
  const message = h("p", { class: "error", role: "alert", id: "mask-error" });
  const button = h("button", { type: "button", id: "alert-mask", text: t("mask.button") });
  const editor = `#/zones/${encodeURIComponent(a.site_id)}/${encodeURIComponent(a.camera_id)}`;
  // applied: the spot is masked, a second click would only add the same mask again
  const tracker = new ConfigTracker(ctx, status, (req) => (button.disabled = req.status === "applied"));
  button.addEventListener("click", async () => {
    if (!window.confirm(t("mask.confirm", { camera: a.camera_id, site: a.site_id }))) return;
    message.textContent = "";
    button.disabled = true;
    try {
      tracker.follow(await api(`/api/alerts/${encodeURIComponent(a.id)}/mask`, { method: "POST" }));
    } catch (err) {
      message.textContent = t("mask.failed", { detail: errorText(err) });
      button.disabled = false;
    }
  });
  const panel = h(
    "section",
    { class: "panel mask", "aria-labelledby": "mask-title" },
    h("h2", { id: "mask-title", text: t("mask.title") }),
    h("p", { class: "muted small", text: t("mask.hint") }),
    h("div", { class: "buttons" }, button, " ", h("a", { href: editor, text: t("mask.editor") })),
    message,
    status,
  );
  return { panel, stop: () => tracker.stop() };
}

/** @type {import("../core/types.js").Mount} */
export function mount(root, ctx, parts) {
  const id = parts[0];
  let alive = true;
  /** @type {AlertView | null} the alert as drawn last */
  let last = null;
  /** @type {{panel: HTMLElement | null, stop: () => void} | null} */
  let mask = null;
  /** @param {string} name */
  const slot = (name) => h("div", { class: `slot slot-${name}` });
  const slots = { head: slot("head"), media: slot("media"), timeline: slot("timeline"), evidence: slot("evidence"), facts: slot("facts"), actions: slot("actions"), mask: slot("mask"), history: slot("history") };
  /** @param {AlertView} a */
  const sig = (a) => JSON.stringify(a.evidence.map((e) => [e.name, e.status, e.url]));

  // Live updates re-draw what changed and leave the playing clip and a note being typed alone.
  /**
   * @param {AlertView} a
   * @param {{resetActions?: boolean}} [options] resetActions: draw the action panel again
   */
  const render = (a, { resetActions = false } = {}) => {
    if (!last) {
      fill(root, slots.head, h("div", { class: "detail" }, h("div", { class: "col-main" }, slots.media, slots.timeline, slots.evidence), h("div", { class: "col-side" }, slots.facts, slots.actions, slots.mask, slots.history)));
    }
    fill(
      slots.head,
      h(
        "div",
        { class: "detail-head" },
        h("a", { href: "#/alerts", class: "back", text: `← ${t("alert.back")}` }),
        h("h1", {}, h("span", { class: `rule rule-${a.rule}`, text: tv("rule", a.rule) }), " ", h("span", { class: `state state-${a.state}`, id: "alert-state", dataset: { state: a.state }, text: tv("state", a.state) })),
      ),
    );
    if (!last || sig(last) !== sig(a)) fill(slots.media, media(a));
    const zone = siteZone(ctx, a.site_id);
    fill(slots.timeline, timeline(a, zone));
    fill(slots.evidence, evidenceList(a, ctx));
    fill(slots.facts, facts(a, zone, ctx));
    if (!last || resetActions || last.state !== a.state || last.assignee !== a.assignee) {
      fill(slots.actions, actions(a, (next) => render(next, { resetActions: true })));
    }
    if (!mask) {
      mask = maskPanel(a, ctx) || { panel: null, stop: () => {} };
      fill(slots.mask, mask.panel);
    }
    fill(slots.history, history(a, zone));
    root.dataset.alert = a.id;
    last = a;
  };

  const load = async () => {
    if (!id) {
      fill(root, h("a", { href: "#/alerts", class: "back", text: `← ${t("alert.back")}` }), h("p", { class: "error", role: "alert", text: t("alert.not_found") }));
      return;
    }
    try {
      /** @type {AlertView} */
      const a = await api(`/api/alerts/${encodeURIComponent(id)}`);
      if (alive) render(a);
    } catch (err) {
      if (!alive) return;
      last = null;
      fill(root, h("a", { href: "#/alerts", class: "back", text: `← ${t("alert.back")}` }), h("p", { class: "error", role: "alert", text: statusOf(err) === 404 ? t("alert.not_found") : t("alert.load_failed", { detail: errorText(err) }) }));
    }
  };
  const reload = debounce(load, 300);
  const offs = [ctx.live.on("alert", (a) => a.id === id && reload()), ctx.live.on("open", (x) => x.reconnect && reload())];
  fill(root, h("p", { class: "muted", text: t("app.loading") }));
  load();
  return () => {
    alive = false;
    offs.forEach((off) => off());
    if (mask) mask.stop();
  };
}
