// The live alert feed: open alerts oldest first (managers work the oldest first), filters kept
// in the URL hash, new alerts pushed by SSE appear in place with a highlight; those that land
// off screen are announced by a "N new alerts — show" banner at the top (new_alerts.js).

import { api } from "./api.js";
import { fill, h } from "./dom.js";
import { fmtAgo, fmtNumber, fmtTime, siteZone, t, tv, tzLabel } from "./i18n.js";
import { cameraInput, field, foldable, hashFor, siteSelect, timeRange } from "./filters.js";
import { NewAlerts } from "./new_alerts.js";
import { ALERT_STATES as STATES, OPEN_STATES, RULES } from "./generated/enums.js";

const PAGE = 200;
const FRESH_MS = 15000;

export function readFilter(params) {
  return {
    site: params.get("site") || "",
    camera: params.get("camera") || "",
    rule: params.get("rule") || "",
    states: params.getAll("state").filter((s) => STATES.includes(s)),
    since: params.get("since") || "",
    until: params.get("until") || "",
    order: params.get("order") === "newest" ? "newest" : "oldest",
  };
}

/** Whether an alert pushed live belongs in the list the filter shows. */
export function matches(f, a) {
  if (f.site && a.site_id !== f.site) return false;
  if (f.camera && a.camera_id !== f.camera) return false;
  if (f.rule && a.rule !== f.rule) return false;
  if (!(f.states.length ? f.states : OPEN_STATES).includes(a.state)) return false;
  const started = new Date(a.started_at).getTime();
  if (f.since && started < new Date(f.since).getTime()) return false;
  if (f.until && started > new Date(f.until).getTime()) return false;
  return true;
}

function stateChoice(f) {
  if (!f.states.length) return "open";
  if (f.states.length === STATES.length) return "all";
  return f.states.length === 1 ? f.states[0] : "custom";
}

function filterBar(ctx, f) {
  const site = siteSelect(ctx, "f-site", f.site);
  const camera = cameraInput(ctx, "f-camera", f.camera, () => site.value);
  site.addEventListener("change", camera.refill);
  const rule = h(
    "select",
    { id: "f-rule", name: "rule" },
    h("option", { value: "", text: t("filter.any_rule") }),
    RULES.map((r) => h("option", { value: r, selected: r === f.rule, text: tv("rule", r) })),
  );
  const choice = stateChoice(f);
  const state = h(
    "select",
    { id: "f-state", name: "state" },
    h("option", { value: "open", selected: choice === "open", text: t("filter.open") }),
    h("option", { value: "all", selected: choice === "all", text: t("filter.all_states") }),
    choice === "custom" && h("option", { value: "custom", selected: true, text: f.states.map((s) => tv("state", s)).join(", ") }),
    STATES.map((s) => h("option", { value: s, selected: choice === s, text: tv("state", s) })),
  );
  const times = timeRange(ctx, "f", f.site, f);
  const order = h(
    "select",
    { id: "f-order" },
    h("option", { value: "oldest", selected: f.order === "oldest", text: t("filter.oldest") }),
    h("option", { value: "newest", selected: f.order === "newest", text: t("filter.newest") }),
  );
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": t("filter.label") },
    field("f-site", t("filter.site"), site),
    field("f-camera", t("filter.camera"), [camera.input, camera.options]),
    field("f-rule", t("filter.rule"), rule),
    field("f-state", t("filter.state"), state),
    times.fields,
    field("f-order", t("filter.order"), order),
    h("div", { class: "field buttons" }, h("button", { type: "submit", class: "primary", text: t("filter.apply") }), h("a", { href: "#/alerts", class: "button", text: t("filter.reset") })),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const s = state.value;
    const states = s === "open" ? [] : s === "all" ? STATES : s === "custom" ? f.states : [s];
    ctx.navigate(
      hashFor("alerts", {
        site: site.value,
        camera: camera.input.value.trim(),
        rule: rule.value,
        state: states,
        ...times.values(),
        order: order.value === "newest" ? "newest" : "",
      }),
    );
  });
  // selects apply at once; text and time fields on submit (Enter) or the button
  for (const el of [site, rule, state, order]) el.addEventListener("change", () => form.requestSubmit());
  const active = [f.site, f.camera, f.rule, f.states.length, f.since, f.until].filter(Boolean).length;
  return foldable("feed", form, active);
}

function thumb(a) {
  if (!a.snapshot_url) return h("span", { class: "thumb none", "aria-hidden": "true" });
  // audited as a thumbnail view (hidden in the audit log unless asked), not as a view
  return h("img", { class: "thumb", src: `${a.snapshot_url}?purpose=thumbnail`, alt: "", loading: "lazy", width: 96, height: 54 });
}

/**
 * Times of rows from several sites (the feed, the audit log): each in its site's zone
 * (siteZone: this browser's while the edge has not reported one; a row without a site: this
 * browser's), the zone named in the time's tooltip. `named`: the listed sites are not all in
 * this browser's zone, so each time also shows its short offset ("UTC+8") beside it.
 */
export function siteTimes(ctx, siteFilter = "") {
  const here = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const sites = ctx.sites.filter((s) => !siteFilter || s.id === siteFilter);
  const named = sites.some((s) => (siteZone(ctx, s.id) || here) !== here);
  const time = (siteId, iso) => {
    const zone = siteId ? siteZone(ctx, siteId) : undefined;
    const label = tzLabel(zone, iso || undefined);
    return [
      h("time", { datetime: iso, title: label, text: fmtTime(iso, zone) }),
      named && h("span", { class: "muted small tz-offset", title: label, text: ` ${label.split(", ").at(-1)}` }),
    ];
  };
  return { named, time };
}

function row(a, siteName, times) {
  const href = `#/alert/${encodeURIComponent(a.id)}`;
  const tr = h(
    "tr",
    { dataset: { id: a.id, state: a.state }, class: "alert-row" },
    // the c-* classes place the cells on a card on a phone (style.css)
    h("td", { class: "c-thumb" }, h("a", { href, class: "row-link", "aria-label": t("feed.open_alert", { rule: tv("rule", a.rule), camera: a.camera_id }) }, thumb(a))),
    h("td", { class: "c-rule" }, h("span", { class: `rule rule-${a.rule}`, text: tv("rule", a.rule) }), h("div", { class: "muted small", text: `${t("feed.zone")}: ${a.zone_id}` })),
    h("td", { class: "c-where" }, h("div", { text: siteName(a.site_id) }), h("div", { class: "muted small", text: a.camera_id })),
    h("td", { class: "c-time" }, times.time(a.site_id, a.started_at), h("div", { class: "muted small age", dataset: { at: a.started_at }, text: fmtAgo(a.started_at) })),
    h("td", { class: "num c-score", dataset: { label: t("feed.score") }, text: fmtNumber(a.score, 2) }),
    h("td", { class: "c-state" }, h("span", { class: `state state-${a.state}`, text: tv("state", a.state) }), a.assignee && h("div", { class: "muted small", text: `→ ${a.assignee}` })),
    h("td", { class: "c-track" }, a.ended_at ? h("span", { class: "muted", text: t("feed.ended") }) : h("span", { class: "ongoing", text: t("feed.ongoing") })),
  );
  tr.addEventListener("click", (event) => {
    if (event.target.closest("a")) return;
    location.hash = href;
  });
  return tr;
}

export function mount(root, ctx, _parts, params) {
  const f = readFilter(params);
  const alerts = new Map(); // id -> AlertOut
  const rows = new Map(); // id -> <tr>
  const liveAt = new Map(); // id -> when its latest live event came (performance.now())
  let total = 0;
  let loaded = 0;
  let generation = 0;
  const timers = [];
  const siteName = (id) => ctx.sites.find((s) => s.id === id)?.name || id;
  const times = siteTimes(ctx, f.site);

  const summary = h("p", { class: "summary", id: "feed-summary", role: "status" });
  const tbody = h("tbody", { id: "feed-rows" });
  const more = h("button", { type: "button", class: "more", hidden: true, text: t("feed.more") });
  const error = h("p", { class: "error", role: "alert" });
  const table = h(
    "table",
    { class: "feed", id: "feed" },
    h("caption", { class: "visually-hidden", text: t("feed.caption") }),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["feed.snapshot", "feed.rule", "feed.where", "feed.started", "feed.score", "feed.state", "feed.track"].map((k) => h("th", { scope: "col", title: k === "feed.started" ? t("feed.started_zone") : null, text: t(k) })),
      ),
    ),
    tbody,
  );
  // operators and admins: the false positives of this view as training data for the next model
  const fpOnly = f.states.length === 1 && f.states[0] === "false_positive";
  const fpQuery = new URLSearchParams(Object.entries({ site: f.site, camera: f.camera, rule: f.rule, since: f.since, until: f.until }).filter(([, v]) => v));
  const fpExport =
    ctx.can("config.write") && fpOnly
      ? h("p", { class: "fp-export" }, h("a", { class: "button", id: "fp-export", href: `/api/false-positives/export?${fpQuery}`, download: "", text: t("feed.fp_export") }), " ", h("span", { class: "muted small", text: t("feed.fp_export_hint") }))
      : null;
  const newAlerts = new NewAlerts(rows);
  fill(root, h("h1", { text: t("feed.title") }), filterBar(ctx, f), fpExport, h("div", { class: "feed-bar" }, summary, newAlerts.banner), error, h("div", { class: "table-wrap" }, table), more);

  const sorted = () => {
    const list = [...alerts.values()].sort((a, b) => Date.parse(a.started_at) - Date.parse(b.started_at) || a.id.localeCompare(b.id));
    return f.order === "newest" ? list.reverse() : list;
  };

  const paint = () => {
    const want = sorted();
    for (const a of want) tbody.append(rows.get(a.id)); // moves existing rows, keeps highlight
    for (const [id, tr] of rows) {
      if (alerts.has(id)) continue;
      tr.remove();
      rows.delete(id);
    }
    summary.textContent = want.length ? t("feed.count", { shown: want.length, total: Math.max(total, want.length) }) : t("feed.none");
    more.hidden = alerts.size >= total; // (a live alert counts in both)
    newAlerts.paint();
  };

  const put = (a, fresh) => {
    const known = alerts.get(a.id);
    // a list read that is older than a live event already shown
    if (known && Date.parse(known.updated_at) > Date.parse(a.updated_at)) return;
    alerts.set(a.id, a);
    const old = rows.get(a.id);
    const tr = row(a, siteName, times);
    if (old) {
      if (old.classList.contains("fresh")) tr.classList.add("fresh");
      if (old.dataset.fresh) tr.dataset.fresh = old.dataset.fresh;
      old.replaceWith(tr);
    }
    rows.set(a.id, tr);
    if (fresh) {
      tr.classList.add("fresh");
      tr.dataset.fresh = "1";
      timers.push(setTimeout(() => rows.get(a.id)?.classList.remove("fresh"), FRESH_MS));
    }
  };

  const query = (offset) => ({
    site: f.site,
    camera: f.camera,
    rule: f.rule,
    state: f.states,
    since: f.since,
    until: f.until,
    order: f.order,
    limit: PAGE,
    offset,
  });

  // Reads the first page again (on mount and on every live (re)connect: nothing is missed).
  const load = async () => {
    const mine = ++generation;
    const started = performance.now();
    try {
      const page = await api("/api/alerts", { params: query(0) });
      if (mine !== generation) return;
      error.textContent = "";
      const seen = new Set(page.items.map((a) => a.id));
      for (const id of [...alerts.keys()]) {
        // an alert pushed live while the list was read may be newer than the read
        if (!seen.has(id) && !((liveAt.get(id) || 0) > started)) alerts.delete(id);
      }
      for (const a of page.items) put(a, false);
      ctx.remember(page.items.map((a) => a.id));
      total = page.total;
      loaded = page.items.length;
      paint();
      root.dataset.loaded = String(mine);
    } catch (err) {
      error.textContent = t("feed.load_failed", { detail: err.message });
    }
  };

  more.addEventListener("click", async () => {
    try {
      const page = await api("/api/alerts", { params: query(loaded) });
      for (const a of page.items) put(a, false);
      total = page.total;
      loaded += page.items.length;
      paint();
    } catch (err) {
      error.textContent = t("feed.load_failed", { detail: err.message });
    }
  });

  const onAlert = (a) => {
    liveAt.set(a.id, performance.now());
    if (matches(f, a)) {
      const added = !alerts.has(a.id);
      put(a, added && a.state === "new");
      if (added) total += 1;
      paint();
      if (added) newAlerts.landed(a.id); // after paint: the row is in its place
      return;
    }
    if (alerts.has(a.id)) {
      alerts.delete(a.id);
      total = Math.max(0, total - 1);
    }
    paint();
  };

  const tick = setInterval(() => {
    for (const el of tbody.querySelectorAll(".age")) el.textContent = fmtAgo(el.dataset.at);
  }, 30000);

  const offs = [ctx.live.on("alert", onAlert), ctx.live.on("open", load)];
  load();
  return () => {
    generation += 1;
    offs.forEach((off) => off());
    clearInterval(tick);
    timers.forEach(clearTimeout);
    newAlerts.stop();
  };
}
