// The chain-of-custody log (audit.read): who viewed, downloaded or exported which evidence,
// who changed what. Newest first as the server returns it.

import { api } from "./api.js";
import { fill, h } from "./dom.js";
import { fmtTime, t } from "./i18n.js";

export function mount(root, ctx, _parts, params) {
  const body = h("tbody", {}, h("tr", {}, h("td", { colspan: 7, class: "muted", text: t("app.loading") })));
  fill(
    root,
    h("h1", { text: t("audit.title") }),
    h("p", { class: "muted", text: t("audit.intro") }),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "compact", id: "audit" },
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
          ? rows.map((r) => h("tr", {}, h("td", { text: fmtTime(r.at) }), h("td", { text: r.username }), h("td", { text: r.action }), h("td", { text: `${r.object_type} ${r.object_id}` }), h("td", { text: r.site_id || "—" }), h("td", { text: r.detail }), h("td", { text: r.client || "—" })))
          : h("tr", {}, h("td", { colspan: 7, class: "muted", text: t("audit.none") })),
      );
    })
    .catch((err) => fill(body, h("tr", {}, h("td", { colspan: 7, class: "error", text: t("audit.load_failed", { detail: err.message }) }))));
}
