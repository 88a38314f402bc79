// @ts-check
// The alert feed's filter: read from the address's parameters (so a filtered feed can be
// shared by copying the address), matched against alerts pushed live, and its form.

import { h } from "../core/dom.js";
import { t, tv } from "../core/i18n.js";
import { cameraInput, field, foldable, hashFor, siteSelect, timeRange } from "./filters.js";
import { ALERT_STATES as STATES, OPEN_STATES, RULES } from "../generated/enums.js";

/** @typedef {ReturnType<typeof readFilter>} Filter */

/**
 * The feed's filter from the address's parameters.
 * @param {URLSearchParams} params
 */
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

/**
 * Whether an alert pushed live belongs in the list the filter shows.
 * @param {Filter} f
 * @param {import("../core/types.js").Alert} a
 */
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

/**
 * The state select's entry for the filter: "open", "all", one state or "custom".
 * @param {Filter} f
 */
function stateChoice(f) {
  if (!f.states.length) return "open";
  if (f.states.length === STATES.length) return "all";
  return f.states.length === 1 ? f.states[0] : "custom";
}

/**
 * The filter form: selects apply at once, text and times on submit.
 * @param {import("../core/types.js").Ctx} ctx
 * @param {Filter} f
 */
export function filterBar(ctx, f) {
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
