// @ts-check
// Incidents: alerts of one camera, rule and zone close in time as one row, open ones oldest
// first, with their count, first and last time and best snapshot. A row opens to its alerts;
// a selection takes one action (acknowledge, resolve, false positive) on every alert of each
// chosen incident, answered per incident. Live "incident" events update rows in place.

import { cameraLabel, zoneLabel } from "../core/names.js";
import { api, errorText } from "../core/api.js";
import { fill, h } from "../core/dom.js";
import { fmtAgo, t, tv } from "../core/i18n.js";
import { CLOSED_STATES, OPEN_STATES } from "../generated/enums.js";
import { evidenceCrop } from "../widgets/evidence_crop.js";
import { siteTimes } from "../widgets/site_times.js";

/** @typedef {import("../core/types.js").Incident} Incident */
/** @typedef {import("../core/types.js").Alert} Alert */
/** @typedef {import("../core/types.js").Ctx} Ctx */

const BULK = ["acknowledge", "resolve", "false_positive"];

/**
 * The page's state while mounted.
 * @typedef {object} View
 * @property {Map<string, Incident>} items
 * @property {Set<string>} chosen
 * @property {Set<string>} opened incident ids whose alerts are shown
 * @property {boolean} closed whether closed incidents are listed instead of open ones
 * @property {{site?: string, camera?: string}} only the site and camera of "#/incidents?site=&camera="
 * @property {number} generation
 * @property {HTMLTableSectionElement} tbody
 * @property {HTMLElement} summary
 * @property {HTMLElement} result
 * @property {HTMLElement} error
 */

/**
 * The best snapshot and, when the incident carries its box, the close-up of the violator.
 * @param {Incident} i
 */
function thumb(i) {
  if (!i.snapshot_url) return h("span", { class: "thumb none", "aria-hidden": "true" });
  const src = `${i.snapshot_url}?purpose=thumbnail`;
  const label = i.label || "";
  const crop = evidenceCrop(src, i.box, label, { width: 54, height: 72, alt: t("crop.alt", { label: label ? tv("label", label) : tv("rule", i.rule) }) });
  return h("span", { class: "evidence-pair" }, h("img", { class: "thumb", src, alt: "", loading: "lazy", width: 128, height: 72 }), crop);
}

/**
 * One incident's row (and, when opened, the row of its alerts after it).
 * @param {View} view
 * @param {Ctx} ctx
 * @param {Incident} i
 */
function rows(view, ctx, i) {
  const times = siteTimes(ctx);
  const site = ctx.sites.find((s) => s.id === i.site_id)?.name || i.site_id;
  const pick = h("input", { type: "checkbox", class: "pick", checked: view.chosen.has(i.id), "aria-label": t("incidents.choose", { rule: tv("rule", i.rule), camera: i.camera_id }) });
  pick.addEventListener("change", () => (pick.checked ? view.chosen.add(i.id) : view.chosen.delete(i.id)));
  const toggle = h("button", { type: "button", class: "link open-alerts", "aria-expanded": String(view.opened.has(i.id)), text: t("incidents.alerts", { n: i.alert_count }) });
  toggle.addEventListener("click", () => {
    if (view.opened.has(i.id)) view.opened.delete(i.id);
    else view.opened.add(i.id);
    paint(view, ctx);
  });
  const tr = h(
    "tr",
    { class: "incident-row", dataset: { id: i.id, state: i.state, count: String(i.alert_count) } },
    h("td", { class: "c-pick" }, ctx.can("alerts.workflow") && pick),
    h("td", { class: "c-thumb" }, thumb(i)),
    h("td", { class: "c-rule" }, h("span", { class: `rule rule-${i.rule}`, text: tv("rule", i.rule) }), i.zone_id && h("div", { class: "muted small" }, `${t("feed.zone")}: `, zoneLabel(i.site_id, i.camera_id, i.zone_id))),
    h("td", { class: "c-where" }, h("div", { text: site }), h("div", {}, cameraLabel(i.site_id, i.camera_id, "muted small"))),
    h("td", { class: "c-time" }, times.time(i.site_id, i.first_at), h("div", { class: "muted small", text: `${t("incidents.last")}: ${fmtAgo(i.last_at)}` })),
    h("td", { class: "c-count num" }, toggle, i.new_alerts > 0 && h("div", { class: "muted small new-count", text: t("incidents.new", { n: i.new_alerts }) })),
    h("td", { class: "c-state" }, h("span", { class: `state state-${i.state}`, text: tv("state", i.state) }), i.assignee && h("div", { class: "muted small", text: `→ ${i.assignee}` })),
  );
  if (!view.opened.has(i.id)) return [tr];
  const list = h("ul", { class: "incident-alerts", dataset: { incident: i.id } }, h("li", { class: "muted", text: "…" }));
  api(`/api/incidents/${encodeURIComponent(i.id)}`).then(
    (/** @type {{alerts: Alert[]}} */ detail) =>
      fill(list, detail.alerts.map((a) => h("li", {}, h("a", { href: `#/alert/${encodeURIComponent(a.id)}`, text: `${tv("state", a.state)} · ${fmtAgo(a.started_at)} · ${a.score.toFixed(2)}` })))),
    (err) => fill(list, h("li", { class: "error", text: errorText(err) })),
  );
  return [tr, h("tr", { class: "incident-detail" }, h("td", { colspan: 7 }, list))];
}

/**
 * Whether the incident belongs to the site and camera the page is limited to.
 * @param {View} view
 * @param {Incident} i
 */
function matches(view, i) {
  return (!view.only.site || i.site_id === view.only.site) && (!view.only.camera || i.camera_id === view.only.camera);
}

/**
 * @param {View} view
 * @param {Ctx} ctx
 */
function paint(view, ctx) {
  const list = [...view.items.values()]
    .filter((i) => OPEN_STATES.includes(i.state) !== view.closed && matches(view, i))
    .sort((a, b) => Date.parse(a.first_at) - Date.parse(b.first_at) || a.id.localeCompare(b.id));
  fill(view.tbody, list.map((i) => rows(view, ctx, i)));
  view.summary.textContent = list.length ? t("incidents.count", { n: list.length }) : t("incidents.none");
}

/**
 * @param {View} view
 * @param {Ctx} ctx
 * @param {HTMLElement} root its data-loaded says which read is shown (tests wait for it)
 */
async function load(view, ctx, root) {
  const mine = ++view.generation;
  try {
    const state = view.closed ? [...CLOSED_STATES] : [...OPEN_STATES];
    /** @type {{items: Incident[]}} */
    const page = await api("/api/incidents", { params: { state, limit: 500, ...view.only } });
    if (mine !== view.generation) return;
    view.items = new Map(page.items.map((i) => [i.id, i]));
    view.error.textContent = "";
    paint(view, ctx);
    root.dataset.loaded = String(mine);
  } catch (err) {
    view.error.textContent = t("incidents.load_failed", { detail: errorText(err) });
  }
}

/**
 * One action on the chosen incidents; the answer per incident, then the list again.
 * @param {View} view
 * @param {Ctx} ctx
 * @param {HTMLElement} root
 * @param {string} action
 */
async function bulk(view, ctx, root, action) {
  const ids = [...view.chosen];
  if (!ids.length) {
    view.result.textContent = t("incidents.choose_first");
    return;
  }
  try {
    /** @type {{done: number, refused: number, items: {id: string, ok: boolean, detail: string | null}[]}} */
    const out = await api("/api/alerts/actions", { method: "POST", body: { action, incident_ids: ids } });
    view.chosen.clear();
    const why = out.items.filter((i) => !i.ok).map((i) => i.detail).join("; ");
    view.result.textContent = t("incidents.bulk_done", { done: out.done, refused: out.refused }) + (why ? ` — ${why}` : "");
  } catch (err) {
    view.result.textContent = errorText(err);
  }
  await load(view, ctx, root);
}

/** @type {import("../core/types.js").Mount} */
export function mount(root, ctx, _parts, params) {
  /** @type {View} */
  const view = {
    items: new Map(),
    chosen: new Set(),
    opened: new Set(),
    closed: false,
    only: {
      ...(params.get("site") ? { site: String(params.get("site")) } : {}),
      ...(params.get("camera") ? { camera: String(params.get("camera")) } : {}),
    },
    generation: 0,
    tbody: h("tbody", { id: "incident-rows" }),
    summary: h("p", { class: "summary", id: "incidents-summary", role: "status" }),
    result: h("p", { class: "summary", id: "incidents-result", role: "status" }),
    error: h("p", { class: "error", role: "alert" }),
  };
  const closed = h("input", { type: "checkbox", id: "incidents-closed" });
  closed.addEventListener("change", () => {
    view.closed = closed.checked;
    view.chosen.clear();
    load(view, ctx, root);
  });
  const actions = ctx.can("alerts.workflow")
    ? h("div", { class: "bulk", id: "incidents-bulk" }, BULK.map((a) => h("button", { type: "button", dataset: { action: a }, text: t(`action.${a}`), onclick: () => bulk(view, ctx, root, a) })))
    : null;
  const columns = ["incidents.choose_col", "feed.snapshot", "feed.rule", "feed.where", "incidents.first", "incidents.count_col", "feed.state"];
  fill(
    root,
    h("h1", { text: t("incidents.title") }),
    h("p", { class: "muted", text: t("incidents.hint") }),
    view.only.site &&
      h(
        "p",
        { class: "scope", id: "incidents-scope" },
        `${t("feed.where")}: ${ctx.sites.find((s) => s.id === view.only.site)?.name || view.only.site}${view.only.camera ? ` / ${view.only.camera}` : ""} · `,
        h("a", { href: "#/incidents", text: t("filter.reset") }),
      ),
    h("label", {}, closed, " ", t("incidents.show_closed")),
    actions,
    view.result,
    view.summary,
    view.error,
    h("div", { class: "table-wrap" }, h("table", { class: "feed incidents", id: "incidents" }, h("thead", {}, h("tr", {}, columns.map((k) => h("th", { scope: "col", text: t(k) })))), view.tbody)),
  );
  const onIncident = (/** @type {Incident} */ i) => {
    view.items.set(i.id, i);
    paint(view, ctx);
  };
  const offs = [ctx.live.on("incident", onIncident), ctx.live.on("open", () => load(view, ctx, root))];
  load(view, ctx, root);
  return () => {
    view.generation += 1;
    offs.forEach((off) => off());
  };
}
