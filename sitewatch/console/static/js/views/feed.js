// @ts-check
// The live alert feed: open alerts oldest first (managers work the oldest first), filters kept
// in the URL hash, new alerts pushed by SSE appear in place with a highlight; those that land
// off screen are announced by a "N new alerts — show" banner at the top (new_alerts.js).

import { cameraLabel, zoneLabel } from "../core/names.js";
import { api, errorText } from "../core/api.js";
import { fill, h } from "../core/dom.js";
import { fmtAgo, fmtNumber, t, tv } from "../core/i18n.js";
import { evidenceCrop } from "../widgets/evidence_crop.js";
import { filterBar, matches, readFilter } from "../widgets/feed_filter.js";
import { NewAlerts } from "../widgets/new_alerts.js";
import { siteTimes } from "../widgets/site_times.js";

/** @typedef {import("../core/types.js").Alert} Alert */
/** @typedef {import("../core/types.js").Ctx} Ctx */
/** @typedef {import("../widgets/site_times.js").SiteTimes} SiteTimes */
/** @typedef {import("../widgets/feed_filter.js").Filter} Filter */

const PAGE = 200;
const FRESH_MS = 15000;

/**
 * The snapshot and, beside it, the close-up of the violator cut from the same picture.
 * @param {Alert} a
 */
function thumb(a) {
  if (!a.snapshot_url) return h("span", { class: "thumb none", "aria-hidden": "true" });
  // audited as a thumbnail view (hidden in the audit log unless asked), not as a view
  const src = `${a.snapshot_url}?purpose=thumbnail`;
  const crop = evidenceCrop(src, a.box, a.label, { width: 54, height: 72, alt: t("crop.alt", { label: tv("label", a.label) }) });
  return h("span", { class: "evidence-pair" }, h("img", { class: "thumb", src, alt: "", loading: "lazy", width: 128, height: 72 }), crop);
}

/**
 * Whether the alert's clip has arrived (a file may come after the message that lists it: the
 * live stream then sends the alert again); null when it lists no clip.
 * @param {Alert} a
 */
function clipState(a) {
  const clip = (a.evidence_files || []).find((f) => f.kind === "clip");
  if (!clip) return null;
  return h("div", { class: `muted small ev-${clip.status}`, text: `${tv("kind", "clip")}: ${tv("evidence", clip.status)}` });
}

/**
 * One alert's row; a click on it (outside its links) opens the alert.
 * @param {Alert} a
 * @param {(siteId: string) => string} siteName
 * @param {SiteTimes} times
 */
function row(a, siteName, times) {
  const href = `#/alert/${encodeURIComponent(a.id)}`;
  const tr = h(
    "tr",
    { dataset: { id: a.id, state: a.state }, class: "alert-row" },
    // the c-* classes place the cells on a card on a phone (style.css)
    h("td", { class: "c-thumb" }, h("a", { href, class: "row-link", "aria-label": t("feed.open_alert", { rule: tv("rule", a.rule), camera: a.camera_id }) }, thumb(a))),
    h("td", { class: "c-rule" }, h("span", { class: `rule rule-${a.rule}`, text: tv("rule", a.rule) }), h("div", { class: "muted small" }, `${t("feed.zone")}: `, zoneLabel(a.site_id, a.camera_id, a.zone_id))),
    h("td", { class: "c-where" }, h("div", { text: siteName(a.site_id) }), h("div", {}, cameraLabel(a.site_id, a.camera_id, "muted small"))),
    h("td", { class: "c-time" }, times.time(a.site_id, a.started_at), h("div", { class: "muted small age", dataset: { at: a.started_at }, text: fmtAgo(a.started_at) })),
    h("td", { class: "num c-score", dataset: { label: t("feed.score") }, text: fmtNumber(a.score, 2) }),
    h("td", { class: "c-state" }, h("span", { class: `state state-${a.state}`, text: tv("state", a.state) }), a.assignee && h("div", { class: "muted small", text: `→ ${a.assignee}` })),
    h("td", { class: "c-track" }, a.ended_at ? h("span", { class: "muted", text: t("feed.ended") }) : h("span", { class: "ongoing", text: t("feed.ongoing") }), clipState(a)),
  );
  tr.addEventListener("click", (event) => {
    if (/** @type {Element} */ (event.target).closest("a")) return;
    location.hash = href;
  });
  return tr;
}

/**
 * The feed's state while mounted: the alerts listed and their rows (by id), when each last
 * came live (performance.now(), ms), how many the server has and how many were read.
 * @typedef {object} Feed
 * @property {Filter} f
 * @property {Map<string, Alert>} alerts
 * @property {Map<string, HTMLTableRowElement>} rows
 * @property {Map<string, number>} liveAt
 * @property {number} total
 * @property {boolean} capped the server stopped counting at `total`: more match
 * @property {number} loaded
 * @property {number} generation bumped by every first-page read and by unmount: a stale read is dropped
 * @property {ReturnType<typeof setTimeout>[]} timers
 * @property {(siteId: string) => string} siteName
 * @property {SiteTimes} times
 * @property {NewAlerts} newAlerts
 * @property {HTMLElement} summary
 * @property {HTMLTableSectionElement} tbody
 * @property {HTMLButtonElement} more
 * @property {HTMLElement} error
 */

/**
 * The table, its header and the body the rows go in.
 * @param {HTMLTableSectionElement} tbody
 */
function feedTable(tbody) {
  const columns = ["feed.snapshot", "feed.rule", "feed.where", "feed.started", "feed.score", "feed.state", "feed.track"];
  return h(
    "table",
    { class: "feed", id: "feed" },
    h("caption", { class: "visually-hidden", text: t("feed.caption") }),
    h("thead", {}, h("tr", {}, columns.map((k) => h("th", { scope: "col", title: k === "feed.started" ? t("feed.started_zone") : null, text: t(k) })))),
    tbody,
  );
}

/**
 * Operators and admins, on a list of false positives only: a link to download them as
 * training data for the next model (null otherwise).
 * @param {Ctx} ctx
 * @param {Filter} f
 */
function fpExport(ctx, f) {
  const fpOnly = f.states.length === 1 && f.states[0] === "false_positive";
  if (!ctx.can("config.write") || !fpOnly) return null;
  const fpQuery = new URLSearchParams(Object.entries({ site: f.site, camera: f.camera, rule: f.rule, since: f.since, until: f.until }).filter(([, v]) => v));
  return h("p", { class: "fp-export" }, h("a", { class: "button", id: "fp-export", href: `/api/false-positives/export?${fpQuery}`, download: "", text: t("feed.fp_export") }), " ", h("span", { class: "muted small", text: t("feed.fp_export_hint") }));
}

/**
 * The listed alerts in the filter's order (oldest first unless asked otherwise).
 * @param {Feed} feed
 */
function sorted(feed) {
  const list = [...feed.alerts.values()].sort((a, b) => Date.parse(a.started_at) - Date.parse(b.started_at) || a.id.localeCompare(b.id));
  return feed.f.order === "newest" ? list.reverse() : list;
}

/**
 * Put the rows in order (existing rows move and keep their highlight), drop those of alerts no
 * longer listed, say how many are shown.
 * @param {Feed} feed
 */
function paint(feed) {
  const want = sorted(feed);
  for (const a of want) {
    const tr = feed.rows.get(a.id);
    if (tr) feed.tbody.append(tr);
  }
  for (const [id, tr] of feed.rows) {
    if (feed.alerts.has(id)) continue;
    tr.remove();
    feed.rows.delete(id);
  }
  const total = Math.max(feed.total, want.length);
  const capped = feed.capped && total <= feed.total; // "10,000+": the server counts up to a cap
  feed.summary.textContent = want.length ? t(capped ? "feed.count_capped" : "feed.count", { shown: fmtNumber(want.length), total: fmtNumber(total) }) : t("feed.none");
  feed.more.hidden = !feed.capped && feed.alerts.size >= feed.total; // (a live alert counts in both)
  feed.newAlerts.paint();
}

/**
 * Add or replace an alert and its row; `fresh`: highlighted as new for a while.
 * @param {Feed} feed
 * @param {Alert} a
 * @param {boolean} fresh
 */
function put(feed, a, fresh) {
  const known = feed.alerts.get(a.id);
  // a list read that is older than a live event already shown
  if (known && Date.parse(known.updated_at) > Date.parse(a.updated_at)) return;
  feed.alerts.set(a.id, a);
  const old = feed.rows.get(a.id);
  const tr = row(a, feed.siteName, feed.times);
  if (old) {
    if (old.classList.contains("fresh")) tr.classList.add("fresh");
    if (old.dataset.fresh) tr.dataset.fresh = old.dataset.fresh;
    old.replaceWith(tr);
  }
  feed.rows.set(a.id, tr);
  if (fresh) {
    tr.classList.add("fresh");
    tr.dataset.fresh = "1";
    feed.timers.push(setTimeout(() => feed.rows.get(a.id)?.classList.remove("fresh"), FRESH_MS));
  }
}

/**
 * GET /api/alerts's parameters for the page at `offset`.
 * @param {Filter} f
 * @param {number} offset
 */
function pageQuery(f, offset) {
  return { site: f.site, camera: f.camera, rule: f.rule, state: f.states, since: f.since, until: f.until, order: f.order, limit: PAGE, offset };
}

/**
 * Read the first page again (on mount and on every live (re)connect: nothing is missed).
 * @param {Feed} feed
 * @param {Ctx} ctx
 * @param {HTMLElement} root its data-loaded says which read is shown (tests wait for it)
 */
async function loadFirst(feed, ctx, root) {
  const mine = ++feed.generation;
  const started = performance.now();
  try {
    /** @type {{items: Alert[], total: number, total_capped?: boolean}} */
    const page = await api("/api/alerts", { params: pageQuery(feed.f, 0) });
    if (mine !== feed.generation) return;
    feed.error.textContent = "";
    const seen = new Set(page.items.map((a) => a.id));
    for (const id of [...feed.alerts.keys()]) {
      // an alert pushed live while the list was read may be newer than the read
      if (!seen.has(id) && !((feed.liveAt.get(id) || 0) > started)) feed.alerts.delete(id);
    }
    for (const a of page.items) put(feed, a, false);
    ctx.remember(page.items.map((a) => a.id));
    feed.total = page.total;
    feed.capped = Boolean(page.total_capped);
    feed.loaded = page.items.length;
    paint(feed);
    root.dataset.loaded = String(mine);
  } catch (err) {
    feed.error.textContent = t("feed.load_failed", { detail: errorText(err) });
  }
}

/**
 * The "more" button: read the next page and add it.
 * @param {Feed} feed
 */
async function loadMore(feed) {
  try {
    /** @type {{items: Alert[], total: number, total_capped?: boolean}} */
    const page = await api("/api/alerts", { params: pageQuery(feed.f, feed.loaded) });
    for (const a of page.items) put(feed, a, false);
    feed.total = page.total;
    feed.capped = Boolean(page.total_capped);
    feed.loaded += page.items.length;
    if (feed.capped && page.items.length < PAGE) [feed.capped, feed.total] = [false, feed.loaded]; // the end
    paint(feed);
  } catch (err) {
    feed.error.textContent = t("feed.load_failed", { detail: errorText(err) });
  }
}

/**
 * An alert pushed live: shown (a new one highlighted) if the filter lists it, else dropped.
 * @param {Feed} feed
 * @param {Alert} a
 */
function onAlert(feed, a) {
  feed.liveAt.set(a.id, performance.now());
  if (matches(feed.f, a)) {
    const added = !feed.alerts.has(a.id);
    put(feed, a, added && a.state === "new");
    if (added) feed.total += 1;
    paint(feed);
    if (added) feed.newAlerts.landed(a.id); // after paint: the row is in its place
    return;
  }
  if (feed.alerts.has(a.id)) {
    feed.alerts.delete(a.id);
    feed.total = Math.max(0, feed.total - 1);
  }
  paint(feed);
}

/** @type {import("../core/types.js").Mount} */
export function mount(root, ctx, _parts, params) {
  const f = readFilter(params);
  /** @type {Map<string, HTMLTableRowElement>} */
  const rows = new Map();
  /** @type {Feed} */
  const feed = {
    f,
    alerts: new Map(),
    rows,
    liveAt: new Map(),
    total: 0,
    capped: false,
    loaded: 0,
    generation: 0,
    timers: [],
    siteName: (id) => ctx.sites.find((s) => s.id === id)?.name || id,
    times: siteTimes(ctx, f.site),
    newAlerts: new NewAlerts(rows),
    summary: h("p", { class: "summary", id: "feed-summary", role: "status" }),
    tbody: h("tbody", { id: "feed-rows" }),
    more: h("button", { type: "button", class: "more", hidden: true, text: t("feed.more") }),
    error: h("p", { class: "error", role: "alert" }),
  };
  fill(
    root,
    h("h1", { text: t("feed.title") }),
    filterBar(ctx, f),
    fpExport(ctx, f),
    h("div", { class: "feed-bar" }, feed.summary, feed.newAlerts.banner),
    feed.error,
    h("div", { class: "table-wrap" }, feedTable(feed.tbody)),
    feed.more,
  );
  feed.more.addEventListener("click", () => loadMore(feed));
  const tick = setInterval(() => {
    for (const el of feed.tbody.querySelectorAll(".age")) {
      const age = /** @type {HTMLElement} */ (el);
      age.textContent = fmtAgo(age.dataset.at);
    }
  }, 30000);
  const load = () => loadFirst(feed, ctx, root);
  const offs = [ctx.live.on("alert", (a) => onAlert(feed, a)), ctx.live.on("open", load)];
  load();
  return () => {
    feed.generation += 1;
    offs.forEach((off) => off());
    clearInterval(tick);
    feed.timers.forEach(clearTimeout);
    feed.newAlerts.stop();
  };
}
