// @ts-check
// Statistics: violations per day (stacked by site, camera or rule; chart and table), alerts by
// state, and how long alerts wait to be acknowledged (median, p90). The server counts each
// site's days in the site's time zone (UTC while its edge has not reported one): when the
// chosen sites share a zone, From/Until and the days on the axis are in it too.

import { cameraLabel, siteLabel } from "../core/names.js";
import { api, errorText } from "../core/api.js";
import { fill, h } from "../core/dom.js";
import { dayIn, fmtDuration, fmtNumber, fromZoneInput, t, toZoneInput, tv, tzLabel } from "../core/i18n.js";
import { legend, stackedBars } from "../widgets/chart.js";
import { cameraInput, field, foldable, hashFor, siteSelect } from "../widgets/filters.js";

/** @typedef {import("../core/types.js").Ctx} Ctx */

/**
 * DayCount: violations of one rule on one camera on one day of its site's zone.
 * @typedef {{day: string, site_id: string, camera_id: string, rule: string, count: number, timezone: string}} DayCount
 */

/**
 * SiteCount: violations of one rule at one site over the whole range (rollup).
 * @typedef {{site_id: string, rule: string, count: number}} SiteCount
 */

/**
 * StatsOut.
 * @typedef {object} Stats
 * @property {DayCount[]} per_day
 * @property {SiteCount[]} [per_site] rollup: per site and rule (per_day is then summed over sites)
 * @property {Record<string, number>} by_state
 * @property {number | null} ack_seconds_median
 * @property {number | null} ack_seconds_p90
 * @property {number} acknowledged
 * @property {Record<string, number>} incidents_by_state incidents per state, by their first alert
 * @property {number} incidents
 * @property {"alerts" | "rollup"} [source] rollup: several sites from daily totals: per_day per
 *   day and rule (site_id and camera_id ""), per_site per site and rule, whole local days,
 *   binned times to acknowledge
 * @property {number | null} [ack_resolution] the histogram bins' relative width (rollup)
 */

const GROUPS = ["rule", "site", "camera"];
const DAY = 86400000;

/**
 * Calendar days "YYYY-MM-DD" from first to last (at most 400).
 * @param {string} first
 * @param {string} last
 */
function days(first, last) {
  /** @type {string[]} */
  const out = [];
  const end = Date.parse(`${last}T00:00:00Z`);
  for (let d = Date.parse(`${first}T00:00:00Z`); d <= end && out.length < 400; d += DAY) out.push(new Date(d).toISOString().slice(0, 10));
  return out;
}

/** The zone the chosen sites' days are counted in, if they share one ("UTC" for a site whose
 * edge sent none, as the server counts); null when they are in several zones.
 * @param {Ctx} ctx
 * @param {string} site the chosen site ("": every site)
 * @returns {string | null}
 */
function sharedZone(ctx, site) {
  const chosen = ctx.sites.filter((s) => !site || s.id === site);
  const zones = new Set(chosen.map((s) => s.timezone || "UTC"));
  return zones.size > 1 ? null : [...zones][0] || "UTC";
}

/**
 * Which zone the days are counted in, in words.
 * @param {Ctx} ctx
 * @param {string} site
 * @param {string | null} zone
 */
function zoneNote(ctx, site, zone) {
  if (zone === null) return t("stats.zone_mixed", { tz: tzLabel() });
  const unknown = ctx.sites.filter((s) => !site || s.id === site).every((s) => !s.timezone);
  return unknown ? t("stats.zone_unknown") : t("stats.zone_site", { tz: tzLabel(zone) });
}

/**
 * Daily and weekly reports of the chosen site (or all one's sites) to download, as PDF or xlsx:
 * plain links to GET /api/reports, which the session cookie authorises.
 * @param {string} siteId
 * @param {string | undefined} zone the sites' shared zone, for "yesterday"
 */
function reports(siteId, zone) {
  const yesterday = new Date(Date.parse(`${dayIn(new Date(), zone)}T00:00:00Z`) - DAY).toISOString().slice(0, 10);
  const day = h("input", { id: "r-date", type: "date", value: yesterday });
  const period = h("select", { id: "r-period" }, ["day", "week"].map((p) => h("option", { value: p, text: t(`stats.report_${p}`) })));
  const link = (/** @type {string} */ format) => h("a", { class: "button", id: `r-${format}`, download: "", text: t(`stats.report_${format}`) });
  const links = [link("pdf"), link("xlsx")];
  const update = () => {
    for (const a of links) {
      const q = new URLSearchParams({ period: period.value, date: day.value || yesterday, format: a.id.slice(2) });
      if (siteId) q.set("site", siteId);
      a.setAttribute("href", `/api/reports?${q}`);
    }
  };
  day.addEventListener("change", update);
  period.addEventListener("change", update);
  update();
  return h(
    "section",
    { class: "reports filters", id: "stats-reports", "aria-label": t("stats.reports") },
    h("h2", { text: t("stats.reports") }),
    field("r-period", t("stats.report_period"), period),
    field("r-date", t("stats.report_date"), day),
    h("div", { class: "field buttons" }, links),
  );
}

/**
 * A rollup's per-site totals as a chart's categories (sites), series (rules) and values.
 * @param {SiteCount[]} perSite
 */
function siteTotals(perSite) {
  /** @type {Map<string, number>} "site\u0000rule" -> violations */
  const counts = new Map();
  for (const d of perSite) counts.set(`${d.site_id}\u0000${d.rule}`, d.count);
  return {
    cats: [...new Set(perSite.map((d) => d.site_id))].sort(),
    rules: [...new Set(perSite.map((d) => d.rule))].sort(),
    value: (/** @type {string} */ site, /** @type {string} */ rule) => counts.get(`${site}\u0000${rule}`) || 0,
  };
}

/** @type {import("../core/types.js").Mount} */
export function mount(root, ctx, _parts, params) {
  const siteId = params.get("site") || "";
  const zone = sharedZone(ctx, siteId) ?? undefined; // undefined: this browser's zone
  const until = params.get("until") || "";
  const today = Date.parse(`${dayIn(new Date(), zone)}T00:00:00Z`);
  const since = params.get("since") || fromZoneInput(`${new Date(today - 13 * DAY).toISOString().slice(0, 10)}T00:00`, zone);
  const asked = params.get("group") || "";
  const f = { site: siteId, camera: params.get("camera") || "", since, until, group: GROUPS.includes(asked) ? asked : "rule" };

  const site = siteSelect(ctx, "s-site", f.site);
  const camera = cameraInput(ctx, "s-camera", f.camera, () => site.value);
  const sinceIn = h("input", { id: "s-since", type: "datetime-local", value: toZoneInput(f.since, zone) });
  const untilIn = h("input", { id: "s-until", type: "datetime-local", value: toZoneInput(f.until, zone) });
  const sinceShown = params.get("since") ? null : sinceIn.value; // the default: its site's own
  const group = h("select", { id: "s-group" }, GROUPS.map((g) => h("option", { value: g, selected: g === f.group, text: t(`stats.by_${g}`) })));
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": t("filter.label") },
    field("s-site", t("filter.site"), site),
    field("s-camera", t("filter.camera"), [camera.input, camera.options]),
    field("s-since", t("filter.since"), sinceIn),
    field("s-until", t("filter.until"), untilIn),
    field("s-group", t("stats.group"), group),
    h("div", { class: "field buttons" }, h("button", { type: "submit", class: "primary", text: t("filter.apply") })),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const sinceAt = sinceIn.value === sinceShown ? "" : fromZoneInput(sinceIn.value, zone);
    ctx.navigate(hashFor("stats", { site: site.value, camera: camera.input.value.trim(), since: sinceAt, until: fromZoneInput(untilIn.value, zone), group: group.value }));
  });
  for (const el of [site, group]) el.addEventListener("change", () => form.requestSubmit());
  const body = h("div", { id: "stats" }, h("p", { class: "muted", text: t("app.loading") }));
  const note = h("p", { class: "muted", id: "stats-zone", dataset: { zone: zone || "" }, text: zoneNote(ctx, f.site, zone ?? null) });
  const active = [f.site, f.camera, params.get("since"), f.until].filter(Boolean).length; // not the default window
  fill(root, h("h1", { text: t("stats.title") }), foldable("stats", form, active), note, ctx.can("reports.read") && reports(f.site, zone), body);

  let alive = true;
  (async () => {
    /** @type {Stats} */
    let s;
    try {
      s = await api("/api/stats", { params: { site: f.site, camera: f.camera, since: f.since, until: f.until } });
    } catch (err) {
      if (alive) fill(body, h("p", { class: "error", role: "alert", text: t("stats.load_failed", { detail: errorText(err) }) }));
      return;
    }
    if (!alive) return;
    /** @param {DayCount} d */
    const keyOf = (d) => (f.group === "site" || (f.group === "camera" && !d.camera_id) ? d.site_id : f.group === "camera" ? `${d.site_id}/${d.camera_id}` : d.rule);
    /** @param {string} k */
    const labelOf = (k) => (f.group === "rule" ? tv("rule", k) : k);
    /** @type {Map<string, Map<string, number>>} day -> key -> violations */
    const counts = new Map();
    /** @type {Set<string>} */
    const keys = new Set();
    for (const d of s.per_day) {
      const k = keyOf(d);
      keys.add(k);
      const m = counts.get(d.day) || new Map();
      m.set(k, (m.get(k) || 0) + d.count);
      counts.set(d.day, m);
    }
    const dataDays = [...counts.keys()].sort();
    const from = dayIn(f.since, zone);
    const first = dataDays[0] && dataDays[0] < from ? dataDays[0] : from;
    const last = dayIn(f.until ? new Date(new Date(f.until).getTime() - 1) : new Date(), zone); // until is exclusive
    const latest = dataDays.at(-1);
    const cats = days(first, latest && latest > last ? latest : last);
    const series = [...keys].sort().map((k) => ({ key: k, label: labelOf(k) }));
    /**
     * @param {string} day
     * @param {string} k
     */
    const value = (day, k) => counts.get(day)?.get(k) || 0;
    const total = s.per_day.reduce((n, d) => n + d.count, 0);
    const sites = s.source === "rollup" ? siteTotals(s.per_site || []) : null;
    const chart =
      sites && f.group !== "rule" // per site (the rollup has no site's day): x = site, stacked by rule
        ? stackedBars(sites.cats, sites.rules.map((k) => ({ key: k, label: tv("rule", k) })), sites.value, { label: t("stats.chart_sites_label", { n: total }), tick: (c) => c })
        : stackedBars(cats, series, value, { label: t("stats.chart_label", { n: total }) });
    const chartLegend = sites && f.group !== "rule" ? legend(sites.rules.map((k) => ({ key: k, label: tv("rule", k) }))) : legend(series);
    const stateTotal = Object.values(s.by_state).reduce((n, v) => n + v, 0);

    const cards = h(
      "div",
      { class: "kpis" },
      h("div", { class: "kpi" }, h("span", { class: "kpi-value", id: "kpi-total", text: fmtNumber(total) }), h("span", { class: "kpi-label", text: t("stats.violations") })),
      h("div", { class: "kpi" }, h("span", { class: "kpi-value", id: "kpi-median", text: fmtDuration(s.ack_seconds_median) }), h("span", { class: "kpi-label", text: t("stats.ack_median") })),
      h("div", { class: "kpi" }, h("span", { class: "kpi-value", id: "kpi-p90", text: fmtDuration(s.ack_seconds_p90) }), h("span", { class: "kpi-label", text: t("stats.ack_p90") })),
      h("div", { class: "kpi" }, h("span", { class: "kpi-value", text: fmtNumber(s.acknowledged) }), h("span", { class: "kpi-label", text: t("stats.acknowledged") })),
      h("div", { class: "kpi" }, h("span", { class: "kpi-value", id: "kpi-incidents", text: fmtNumber(s.incidents) }), h("span", { class: "kpi-label", text: t("nav.incidents") })),
    );
    /** @param {string} k */
    const incidents = (k) => h("td", { class: "num", text: fmtNumber(s.incidents_by_state[k] || 0) });
    const states = h(
      "table",
      { class: "compact" },
      h("caption", { text: t("stats.by_state") }),
      h("thead", {}, h("tr", {}, h("td"), h("th", { scope: "col", text: t("nav.alerts") }), h("th", { scope: "col", text: t("nav.incidents") }))),
      h("tbody", { id: "stats-states" }, Object.entries(s.by_state).map(([k, v]) => h("tr", { dataset: { state: k } }, h("th", { scope: "row" }, h("span", { class: `state state-${k}`, text: tv("state", k) })), h("td", { class: "num", text: fmtNumber(v) }), incidents(k))), h("tr", {}, h("th", { scope: "row", text: t("stats.total") }), h("td", { class: "num", text: fmtNumber(stateTotal) }), h("td", { class: "num", text: fmtNumber(s.incidents) }))),
    );
    const siteTable = h(
      "table",
      { class: "compact", id: "stats-table" },
      h("caption", { text: t("stats.table_sites") }),
      h("thead", {}, h("tr", {}, ["filter.site", "filter.rule", "stats.count"].map((k) => h("th", { scope: "col", text: t(k) })))),
      h("tbody", {}, (s.per_site || []).length ? (s.per_site || []).map((d) => h("tr", {}, h("td", {}, siteLabel(ctx, d.site_id)), h("td", { text: tv("rule", d.rule) }), h("td", { class: "num", text: fmtNumber(d.count) }))) : h("tr", {}, h("td", { colspan: 3, class: "muted", text: t("stats.none") }))),
    );
    const rows = [...s.per_day].sort((a, b) => b.day.localeCompare(a.day) || a.site_id.localeCompare(b.site_id) || a.camera_id.localeCompare(b.camera_id) || a.rule.localeCompare(b.rule));
    const table = h(
      "table",
      { class: "compact", id: "stats-table" },
      h("caption", { text: t("stats.table") }),
      h("thead", {}, h("tr", {}, ["stats.day", "filter.site", "filter.camera", "filter.rule", "stats.count"].map((k) => h("th", { scope: "col", text: t(k) })))),
      h("tbody", {}, rows.length ? rows.map((d) => h("tr", {}, h("td", { text: d.day, title: d.timezone }), h("td", {}, siteLabel(ctx, d.site_id)), h("td", {}, d.camera_id ? cameraLabel(d.site_id, d.camera_id) : t("stats.all_cameras")), h("td", { text: tv("rule", d.rule) }), h("td", { class: "num", text: fmtNumber(d.count) }))) : h("tr", {}, h("td", { colspan: 5, class: "muted", text: t("stats.none") }))),
    );
    const rollup = s.source === "rollup" ? h("p", { class: "muted", id: "stats-rollup", text: t("stats.rollup_note", { pct: Math.round((s.ack_resolution || 0) * 100) }) }) : null;
    fill(
      body,
      rollup,
      cards,
      h("section", { class: "panel" }, h("h2", { text: t(sites && f.group !== "rule" ? "stats.per_site" : "stats.per_day") }), h("div", { class: "chart-wrap" }, chart), chartLegend),
      h("div", { class: "two-col" }, h("section", { class: "panel" }, sites ? siteTable : table), h("section", { class: "panel" }, states)),
    );
  })();
  return () => {
    alive = false;
  };
}
