// @ts-check
// The chain-of-custody log (audit.read): who viewed, downloaded or exported which evidence,
// who changed what. Newest first as the server returns it. Actions and object types are shown
// in the user's language (the raw value stays in the cell's title); an alert or its evidence
// links to the alert. Filters (an alert with its evidence files, user, action, time) and the
// page live in the URL hash like the feed's, so "#/audit?alert=<id>" is that alert's chain of
// custody; the feed's thumbnail views are hidden unless asked for. Each time is in its row's
// site's zone, as in the feed (a row without a site: this browser's zone); From / Until are read
// in the sites' zone when they share one, else in this browser's, and their labels say which.
// A row's detail is the language file's audit_detail.<detail_key> filled from detail_params
// (states and roles in words), else the English text stored with older rows; the site shows
// its display name, its id in the tooltip.

import { api, errorText } from "../core/api.js";
import { fill, h } from "../core/dom.js";
import { cameraLabel } from "../core/names.js";
import { siteTimes } from "../widgets/site_times.js";
import { field, foldable, hashFor, timeRange } from "../widgets/filters.js";
import { has, t, tv, tzLabel } from "../core/i18n.js";
import { ACTIONS as WORKFLOW } from "../generated/enums.js";

/** @typedef {import("../core/types.js").Ctx} Ctx */
/** @typedef {ReturnType<typeof readFilter>} Filter */

/**
 * AuditOut: one audit record.
 * @typedef {object} AuditRecord
 * @property {string} at
 * @property {string} username
 * @property {string} action
 * @property {string} object_type
 * @property {string} object_id
 * @property {string | null} site_id
 * @property {string} detail
 * @property {string | null} [detail_key]
 * @property {Record<string, unknown> | null} [detail_params]
 * @property {string | null} client
 */

/** Detail params shown as words of an enumeration (the prefix of their texts). */
const DETAIL_WORDS = /** @type {Record<string, string>} */ ({ from_state: "state", to_state: "state", role: "role", fields: "user_field" });

/**
 * The row's detail in the user's language when it was stored as a template, else as stored.
 * @param {AuditRecord} r
 */
function detailText(r) {
  if (!r.detail_key || !has(`audit_detail.${r.detail_key}`)) return r.detail;
  /** @type {Record<string, string>} */
  const vars = {};
  for (const [name, value] of Object.entries(r.detail_params || {})) {
    const text = value === null || value === undefined ? "" : String(value);
    const prefix = DETAIL_WORDS[name];
    vars[name] = prefix ? text.split(", ").map((v) => tv(prefix, v)).join("、") : text;
  }
  return t(`audit_detail.${r.detail_key}`, vars);
}

const PAGE = 100;
const ACTIONS = ["view", "view_thumbnail", "download", "export", "tamper_detected", ...WORKFLOW, "config_change", "config.mask_from_alert", "config_resend", "config_regressed", "camera_add", "camera_edit", "camera_remove", "site_rename", "export_training", "login", "login_failed", "logout", "user_create", "user_update"];

/**
 * An audit action in words: its own text, else the workflow step's, else as stored.
 * @param {string} action
 */
function actionText(action) {
  const own = tv("audit_action", action);
  return own !== action ? own : tv("action", action);
}

/**
 * The object: its type in words, its id; alerts and evidence ("<alert>/<file>") link.
 * @param {AuditRecord} r
 */
function objectCell(r) {
  const type = tv("audit_object", r.object_type);
  const [site, camera] = r.object_id.split("/");
  if (r.object_type === "camera" && site && camera) return h("td", { class: "audit-object" }, h("span", { class: "muted", text: `${type} ` }), cameraLabel(site, camera));
  const alertId = r.object_type === "alert" ? r.object_id : r.object_type === "evidence" ? r.object_id.split("/")[0] : null;
  const id = alertId ? h("a", { href: `#/alert/${encodeURIComponent(alertId)}`, text: r.object_id }) : r.object_id;
  return h("td", { class: "audit-object" }, h("span", { class: "muted", text: `${type} ` }), id);
}

/**
 * The log's filter and page from the address's parameters.
 * @param {URLSearchParams} params
 */
export function readFilter(params) {
  const offset = Number.parseInt(params.get("offset") || "0", 10);
  return {
    alert: params.get("alert") || "",
    user: params.get("user") || "",
    action: params.get("action") || "",
    since: params.get("since") || "",
    until: params.get("until") || "",
    thumbnails: params.get("thumbnails") === "true",
    offset: Number.isFinite(offset) && offset > 0 ? offset : 0,
  };
}

/**
 * The address of the filter's page at `offset`.
 * @param {Omit<Filter, "offset">} f
 * @param {number} [offset]
 */
function hashOf(f, offset = 0) {
  return hashFor("audit", { ...f, thumbnails: f.thumbnails ? "true" : "", offset: offset > 0 ? String(offset) : "" });
}

/**
 * @param {Ctx} ctx
 * @param {Filter} f
 */
function filterBar(ctx, f) {
  const alert = h("input", { id: "a-alert", name: "alert", value: f.alert, autocomplete: "off", spellcheck: "false", size: 36 });
  const user = h("input", { id: "a-user", name: "user", value: f.user, autocomplete: "off" });
  const action = h(
    "select",
    { id: "a-action", name: "action" },
    h("option", { value: "", text: t("audit.any_action") }),
    ACTIONS.map((a) => h("option", { value: a, selected: a === f.action, text: actionText(a) })),
  );
  const times = timeRange(ctx, "a", "", f);
  const thumbnails = h("input", { id: "a-thumbnails", type: "checkbox", checked: f.thumbnails });
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": t("filter.label") },
    field("a-alert", t("audit.filter_alert"), alert),
    field("a-user", t("audit.user"), user),
    field("a-action", t("audit.action"), action),
    times.fields,
    field("a-thumbnails", t("audit.thumbnails"), thumbnails),
    h("div", { class: "field buttons" }, h("button", { type: "submit", class: "primary", text: t("filter.apply") }), h("a", { href: "#/audit", class: "button", text: t("filter.reset") })),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault(); // a new filter starts at the first page
    const next = { alert: alert.value.trim(), user: user.value.trim(), action: action.value, ...times.values(), thumbnails: thumbnails.checked };
    ctx.navigate(hashOf(next));
  });
  for (const el of [action, thumbnails]) el.addEventListener("change", () => form.requestSubmit());
  const active = [f.alert, f.user, f.action, f.since, f.until, f.thumbnails].filter(Boolean).length;
  return foldable("audit", form, active);
}

/**
 * @param {AuditRecord} r
 * @param {import("../widgets/site_times.js").SiteTimes} times
 * @param {Ctx} ctx
 */
function row(r, times, ctx) {
  const site = r.site_id ? ctx.sites.find((s) => s.id === r.site_id)?.name || r.site_id : "—";
  return h(
    "tr",
    { dataset: { action: r.action } },
    h("td", { class: "nowrap" }, times.time(r.site_id, r.at)),
    h("td", { class: "nowrap", text: r.username }),
    h("td", { class: "nowrap", title: r.action, text: actionText(r.action) }),
    objectCell(r),
    h("td", { class: "nowrap", title: r.site_id || "", text: site }),
    h("td", { class: "audit-detail", title: r.detail, text: detailText(r) }),
    h("td", { class: "nowrap", text: r.client || "—" }),
  );
}

/**
 * "Rows 101–200" with links to the newer and older pages (one more row asked for tells).
 * @param {Filter} f
 * @param {number} shown rows on this page
 * @param {boolean} more whether an older page has rows
 */
function pager(f, shown, more) {
  if (!f.offset && !more) return null;
  const where = t("audit.page", { from: shown ? f.offset + 1 : f.offset, to: f.offset + shown });
  return h(
    "nav",
    { class: "pager", id: "audit-pager", "aria-label": where },
    f.offset > 0 && h("a", { class: "button", id: "audit-newer", href: hashOf(f, Math.max(0, f.offset - PAGE)), text: t("audit.newer") }),
    " ",
    h("span", { class: "muted", text: where }),
    " ",
    more && h("a", { class: "button", id: "audit-older", href: hashOf(f, f.offset + PAGE), text: t("audit.older") }),
  );
}

/** @type {import("../core/types.js").Mount} */
export function mount(root, ctx, _parts, params) {
  const f = readFilter(params);
  const body = h("tbody", {}, h("tr", {}, h("td", { colspan: 7, class: "muted", text: t("app.loading") })));
  const paging = h("div", {});
  const times = siteTimes(ctx, "", true); // the log mixes zones: every time says its offset
  const zones = t(times.named ? "audit.times_sites" : "app.times_in", { tz: tzLabel() });
  fill(
    root,
    h("h1", { text: t("audit.title") }),
    h("p", { class: "muted" }, f.alert ? t("audit.alert_trail", { id: f.alert }) : t("audit.intro"), " ", zones),
    filterBar(ctx, f),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "compact audit", id: "audit" },
        h("thead", {}, h("tr", {}, ["audit.at", "audit.user", "audit.action", "audit.object", "audit.site", "audit.detail", "audit.client"].map((k) => h("th", { scope: "col", text: t(k) })))),
        body,
      ),
    ),
    paging,
  );
  const query = { alert: f.alert, user: f.user, action: f.action, since: f.since, until: f.until, thumbnails: f.thumbnails ? "true" : "", limit: PAGE + 1, offset: f.offset };
  api("/api/audit", { params: query })
    .then((/** @type {AuditRecord[]} */ rows) => {
      const page = rows.slice(0, PAGE);
      fill(body, page.length ? page.map((r) => row(r, times, ctx)) : h("tr", {}, h("td", { colspan: 7, class: "muted", text: t("audit.none") })));
      fill(paging, pager(f, page.length, rows.length > PAGE));
    })
    .catch((err) => fill(body, h("tr", {}, h("td", { colspan: 7, class: "error", text: t("audit.load_failed", { detail: errorText(err) }) }))));
}
