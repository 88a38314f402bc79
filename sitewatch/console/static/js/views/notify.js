// @ts-check
// Notifications: the overdue alerts (督查: new past the escalation time, with the level each
// reached; alerts.read), the delivery log (alerts.workflow: managers and admins) and the routes
// that say who gets what (users.manage: admins; a target's secrets never come back, a route is
// added, tested or removed here, a failed notification sent again). Times in each row's site's
// zone.

import { cameraLabel, siteLabel } from "../core/names.js";
import { api, errorText } from "../core/api.js";
import { fill, h } from "../core/dom.js";
import { fmtTime, siteZone, t, tv } from "../core/i18n.js";
import * as browserNotify from "../widgets/browser_notify.js";

/** @typedef {import("../core/types.js").Ctx} Ctx */
/**
 * OverdueOut.
 * @typedef {{id: string, site_id: string, camera_id: string, rule: string, started_at: string,
 *   received_at: string, minutes_open: number, level: number, level_at: string | null,
 *   incident_id: string | null, alerts: number}} Overdue
 * NotificationOut.
 * @typedef {{id: number, channel: string, alert_id: string | null, site_id: string | null,
 *   level: number, state: string, attempts: number, created_at: string, sent_at: string | null,
 *   last_error: string | null, title: string, line: string}} Sent
 * RouteOut.
 * @typedef {{id: number, name: string, channel: string, target: Record<string, unknown>,
 *   level: number, sites: string[], rules: string[] | null, hours: string | null,
 *   enabled: boolean, reports: string[] | null, incident_updates: boolean}} Route
 */

const KINDS = ["alerts", "daily", "weekly", "daily+weekly"];
const CHANNELS = ["wecom", "dingtalk", "feishu", "webhook", "email", "webpush"];

/**
 * @param {string[]} keys
 * @param {HTMLTableSectionElement} body
 * @param {string} id
 */
function table(keys, body, id) {
  const head = h("thead", {}, h("tr", {}, keys.map((k) => h("th", { scope: "col", text: t(k) }))));
  return h("div", { class: "table-wrap" }, h("table", { id }, head, body));
}

/**
 * @param {Ctx} ctx
 * @param {Overdue} a
 */
function overdueRow(ctx, a) {
  return h(
    "tr",
    { dataset: { alert: a.id } },
    h("td", {}, h("a", { href: `#/alert/${encodeURIComponent(a.id)}`, text: fmtTime(a.received_at, siteZone(ctx, a.site_id)) })),
    h("td", {}, siteLabel(ctx, a.site_id), " / ", cameraLabel(a.site_id, a.camera_id)),
    h("td", { text: a.alerts > 1 ? t("notify.incident_of", { rule: tv("rule", a.rule), n: a.alerts }) : tv("rule", a.rule) }),
    h("td", { class: "num", text: String(Math.floor(a.minutes_open)) }),
    h("td", { class: "level", text: a.level ? t("notify.level_n", { n: a.level }) : t("notify.not_yet") }),
  );
}

/**
 * @param {Ctx} ctx
 * @param {Sent} n
 * @param {(message?: string) => void} reload
 */
function sentRow(ctx, n, reload) {
  const retry =
    n.state === "failed" &&
    ctx.can("users.manage") &&
    h("button", {
      type: "button",
      text: t("notify.retry"),
      onclick: async () => {
        try {
          await api(`/api/notifications/${n.id}/retry`, { method: "POST" });
          reload(t("notify.retried"));
        } catch (err) {
          reload(t("notify.failed", { detail: errorText(err) }));
        }
      },
    });
  return h(
    "tr",
    { dataset: { state: n.state } },
    h("td", { text: fmtTime(n.sent_at || n.created_at, n.site_id ? siteZone(ctx, n.site_id) : undefined) }),
    h("td", { text: tv("notify.channel", n.channel) }),
    h("td", { text: n.level ? t("notify.level_n", { n: n.level }) : t("notify.report_row") }),
    h("td", { text: n.line, title: n.title }),
    h("td", { text: tv("notify.state", n.state), title: n.last_error || "" }),
    h("td", { class: "num", text: String(n.attempts) }),
    h("td", { class: "buttons" }, retry),
  );
}

/**
 * @param {Route} r
 * @param {(message?: string) => void} reload
 */
function routeRow(r, reload) {
  const remove = h("button", {
    type: "button",
    class: "danger",
    text: t("notify.remove"),
    onclick: async () => {
      if (!window.confirm(t("notify.remove_confirm", { name: r.name }))) return;
      try {
        await api(`/api/notify/routes/${r.id}`, { method: "DELETE" });
        reload(t("notify.removed", { name: r.name }));
      } catch (err) {
        reload(t("notify.failed", { detail: errorText(err) }));
      }
    },
  });
  const test = h("button", {
    type: "button",
    text: t("notify.test"),
    onclick: async () => {
      try {
        await api(`/api/notify/routes/${r.id}/test`, { method: "POST" });
        reload(t("notify.tested", { name: r.name }));
      } catch (err) {
        reload(t("notify.test_failed", { name: r.name, detail: errorText(err) }));
      }
    },
  });
  return h(
    "tr",
    { dataset: { route: String(r.id) } },
    h("th", { scope: "row", text: r.name }),
    h("td", { text: tv("notify.channel", r.channel) }),
    h("td", { text: r.reports ? r.reports.map((k) => tv("notify.kind", k)).join(", ") : t("notify.level_n", { n: r.level }) }),
    h("td", { text: r.sites.join(", ") }),
    h("td", { text: (r.rules || []).map((x) => tv("rule", x)).join(", ") || t("notify.all") }),
    h("td", { text: r.hours || t("notify.all_day") }),
    h("td", { class: "buttons" }, test, remove),
  );
}

/** @param {(message?: string) => void} reload */
function routeForm(reload) {
  /** @type {(id: string, label: string, el: HTMLElement) => HTMLElement} */
  const field = (id, label, el) => h("div", { class: "field" }, h("label", { for: id, text: label }), el);
  const name = h("input", { id: "nr-name", required: true, maxlength: 100 });
  const channel = h("select", { id: "nr-channel" }, CHANNELS.map((c) => h("option", { value: c, text: tv("notify.channel", c) })));
  const url = h("input", { id: "nr-url", placeholder: "https://…", autocomplete: "off" });
  const secret = h("input", { id: "nr-secret", type: "password", autocomplete: "new-password" });
  const level = h("select", { id: "nr-level" }, [1, 2, 3].map((n) => h("option", { value: String(n), text: t(`notify.level_${n}`) })));
  // a route of alerts, or of scheduled reports (the API's RouteIn.reports)
  const kind = h("select", { id: "nr-kind" }, KINDS.map((k) => h("option", { value: k, text: tv("notify.kind", k) })));
  const updates = h("input", { id: "nr-updates", type: "checkbox" });
  const sites = h("input", { id: "nr-sites", value: "*" });
  const hours = h("input", { id: "nr-hours", placeholder: "07:00-19:00" });
  const message = h("span", { class: "error small", role: "alert" });
  const form = h(
    "form",
    { class: "filters", id: "notify-route-form", "aria-label": t("notify.add") },
    field("nr-name", t("notify.name"), name),
    field("nr-channel", t("notify.channel_label"), channel),
    field("nr-url", t("notify.url"), url),
    field("nr-secret", t("notify.secret"), secret),
    field("nr-kind", t("notify.kind_label"), kind),
    field("nr-level", t("notify.level"), level),
    field("nr-updates", t("notify.updates"), updates),
    field("nr-sites", t("notify.sites"), sites),
    field("nr-hours", t("notify.hours"), hours),
    h("div", { class: "field buttons" }, h("button", { type: "submit", class: "primary", text: t("notify.add") }), message),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const to = url.value.split(",").map((s) => s.trim()).filter(Boolean);
    /** @type {Record<string, unknown>} */
    // webpush: the field names users (none: every subscribed user in scope; notify/webpush.py)
    const target = channel.value === "email" ? { to } : channel.value === "webpush" ? (to.length ? { users: to } : {}) : { url: url.value.trim() };
    if (secret.value) target.secret = secret.value;
    const body = {
      name: name.value.trim(),
      channel: channel.value,
      target,
      level: Number(level.value),
      sites: sites.value.split(",").map((s) => s.trim()).filter(Boolean),
      hours: hours.value.trim() || null,
      reports: kind.value === "alerts" ? null : kind.value.split("+"),
      incident_updates: kind.value === "alerts" && Number(level.value) === 1 && updates.checked,
    };
    try {
      await api("/api/notify/routes", { method: "POST", body });
      reload(t("notify.added", { name: body.name }));
    } catch (err) {
      message.textContent = t("notify.failed", { detail: errorText(err) });
    }
  });
  return form;
}

/** @type {import("../core/types.js").Mount} */
export function mount(root, ctx) {
  const late = h("tbody", {});
  const log = h("tbody", {});
  const routes = h("tbody", {});
  const error = h("p", { class: "error", role: "alert" });
  const done = h("p", { class: "done", id: "notify-status", role: "status" });
  const load = async (message = "") => {
    done.textContent = message;
    try {
      /** @type {Overdue[]} */
      const overdue = await api("/api/alerts/overdue");
      fill(late, overdue.length ? overdue.map((a) => overdueRow(ctx, a)) : h("tr", {}, h("td", { colspan: 5, class: "empty", text: t("notify.none_overdue") })));
      if (ctx.can("alerts.workflow")) {
        /** @type {Sent[]} */
        const sent = await api("/api/notifications", { params: { limit: 100 } });
        fill(log, sent.map((n) => sentRow(ctx, n, load)));
      }
      if (ctx.can("users.manage")) {
        /** @type {Route[]} */
        const list = await api("/api/notify/routes");
        fill(routes, list.map((r) => routeRow(r, load)));
      }
      error.textContent = "";
    } catch (err) {
      error.textContent = t("notify.load_failed", { detail: errorText(err) });
    }
  };
  fill(
    root,
    h("h1", { text: t("notify.title") }),
    error,
    done,
    h("h2", { text: t("browser_notify.heading") }),
    browserNotify.panel(),
    h("h2", { text: t("notify.overdue") }),
    table(["notify.received", "notify.where", "notify.rule", "notify.minutes", "notify.level"], late, "notify-overdue"),
    ctx.can("alerts.workflow") && [h("h2", { text: t("notify.log") }), table(["notify.when", "notify.channel_label", "notify.level", "notify.what", "notify.state_label", "notify.attempts", "notify.actions"], log, "notify-log")],
    ctx.can("users.manage") && [h("h2", { text: t("notify.routes") }), table(["notify.name", "notify.channel_label", "notify.level", "notify.sites", "notify.rule", "notify.hours", "notify.actions"], routes, "notify-routes"), routeForm(load)],
  );
  load();
  const timer = window.setInterval(() => load(done.textContent || ""), 30000);
  return () => window.clearInterval(timer);
}
