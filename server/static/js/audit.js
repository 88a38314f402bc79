// The chain-of-custody log (audit.read): who viewed, downloaded or exported which evidence,
// who changed what. Newest first as the server returns it. Actions and object types are shown
// in the user's language (the raw value stays in the cell's title); an alert or its evidence
// links to the alert.

import { api } from "./api.js";
import { fill, h } from "./dom.js";
import { fmtTime, t, tv, tzLabel } from "./i18n.js";

/** An audit action in words: its own text, else the workflow step's, else as stored. */
function actionText(action) {
  const own = tv("audit_action", action);
  return own !== action ? own : tv("action", action);
}

/** The object: its type in words, its id; alerts and evidence ("<alert>/<file>") link. */
function objectCell(r) {
  const type = tv("audit_object", r.object_type);
  const alertId = r.object_type === "alert" ? r.object_id : r.object_type === "evidence" ? r.object_id.split("/")[0] : null;
  const id = alertId ? h("a", { href: `#/alert/${encodeURIComponent(alertId)}`, text: r.object_id }) : r.object_id;
  return h("td", { class: "audit-object" }, h("span", { class: "muted", text: `${type} ` }), id);
}

export function mount(root, ctx, _parts, params) {
  const body = h("tbody", {}, h("tr", {}, h("td", { colspan: 7, class: "muted", text: t("app.loading") })));
  fill(
    root,
    h("h1", { text: t("audit.title") }),
    h("p", { class: "muted" }, t("audit.intro"), " ", t("app.times_in", { tz: tzLabel() })),
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
  );
  const query = Object.fromEntries(params.entries());
  api("/api/audit", { params: { limit: 500, ...query } })
    .then((rows) => {
      fill(
        body,
        rows.length
          ? rows.map((r) =>
              h(
                "tr",
                { dataset: { action: r.action } },
                h("td", { class: "nowrap" }, h("time", { datetime: r.at, text: fmtTime(r.at) })),
                h("td", { class: "nowrap", text: r.username }),
                h("td", { class: "nowrap", title: r.action, text: actionText(r.action) }),
                objectCell(r),
                h("td", { class: "nowrap", text: r.site_id || "—" }),
                h("td", { class: "audit-detail", text: r.detail }),
                h("td", { class: "nowrap", text: r.client || "—" }),
              ),
            )
          : h("tr", {}, h("td", { colspan: 7, class: "muted", text: t("audit.none") })),
      );
    })
    .catch((err) => fill(body, h("tr", {}, h("td", { colspan: 7, class: "error", text: t("audit.load_failed", { detail: err.message }) }))));
}
