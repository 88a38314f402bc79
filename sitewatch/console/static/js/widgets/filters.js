// @ts-check
// Filter controls shared by the alert feed and the statistics (their values live in the URL
// hash, so a view can be shared by copying the address).

import { api } from "../core/api.js";
import { h } from "../core/dom.js";
import { fromZoneInput, siteZone, t, toZoneInput, tzLabel } from "../core/i18n.js";

/** @typedef {import("../core/types.js").Ctx} Ctx */
/** @typedef {import("../core/types.js").Camera} Camera */

/** @type {Promise<Camera[]> | null} */
let cameraCache = null;

/**
 * Cameras of the user's sites ([] for roles that may not list cameras).
 * @param {Ctx} ctx
 * @returns {Promise<Camera[]>}
 */
export async function cameraList(ctx) {
  if (!ctx.can("cameras.read")) return [];
  if (!cameraCache) {
    cameraCache = api("/api/cameras").catch(() => {
      cameraCache = null;
      return [];
    });
  }
  return cameraCache;
}

/**
 * From and Until of a filter, read in the zone the listed rows' times are shown in: the chosen
 * sites' own when they share one (so "08:00" is 08:00 on the site's clock), else this browser's;
 * their labels name it. `fields`: the two form fields; `values()`: { since, until } as ISO times.
 * @param {Ctx} ctx
 * @param {string} prefix the fields' id prefix
 * @param {string} site the chosen site ("": any)
 * @param {{since: string, until: string}} f the filter's ISO times
 */
export function timeRange(ctx, prefix, site, f) {
  const here = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const zones = new Set(ctx.sites.filter((s) => !site || s.id === site).map((s) => siteZone(ctx, s.id) || here));
  const zone = zones.size === 1 ? [...zones][0] : undefined;
  const since = h("input", { id: `${prefix}-since`, type: "datetime-local", value: toZoneInput(f.since, zone) });
  const until = h("input", { id: `${prefix}-until`, type: "datetime-local", value: toZoneInput(f.until, zone) });
  return {
    fields: [field(`${prefix}-since`, `${t("filter.since")} (${tzLabel(zone)})`, since), field(`${prefix}-until`, `${t("filter.until")} (${tzLabel(zone)})`, until)],
    values: () => ({ since: fromZoneInput(since.value, zone), until: fromZoneInput(until.value, zone) }),
  };
}

/**
 * A labelled form field.
 * @param {string} id the control's id
 * @param {string} label
 * @param {import("../core/dom.js").Child} control
 */
export function field(id, label, control) {
  return h("div", { class: "field" }, h("label", { for: id, text: label }), control);
}

/**
 * A <select> of the user's sites, "any site" first.
 * @param {Ctx} ctx
 * @param {string} id
 * @param {string} value the chosen site id
 */
export function siteSelect(ctx, id, value) {
  return h(
    "select",
    { id, name: "site" },
    h("option", { value: "", text: t("filter.any_site") }),
    ctx.sites.map((s) => h("option", { value: s.id, selected: s.id === value, text: s.name ? `${s.name} (${s.id})` : s.id })),
  );
}

/**
 * A camera id box with suggestions (cameras of the chosen site when the role may list them).
 * @param {Ctx} ctx
 * @param {string} id
 * @param {string} value
 * @param {() => string} siteOf the chosen site ("": any)
 */
export function cameraInput(ctx, id, value, siteOf) {
  const listId = `${id}-options`;
  const input = h("input", { id, name: "camera", value: value || "", list: listId, autocomplete: "off", placeholder: t("filter.any_camera") });
  const options = h("datalist", { id: listId });
  const refill = async () => {
    const site = siteOf();
    const cams = (await cameraList(ctx)).filter((c) => !site || c.site_id === site);
    options.replaceChildren(...cams.map((c) => h("option", { value: c.camera_id, text: c.name || c.camera_id })));
  };
  refill();
  return { input, options, refill };
}

const unfolded = new Set(); // views whose filters the user opened on a phone (kept on re-mount)

/**
 * The filter form behind a "Filters" button that says how many are set. Only a narrow screen
 * (a phone) shows the button and folds the form away (style.css); wider ones show the form.
 * @param {string} key the view's name (ids, and its fold kept across re-mounts)
 * @param {HTMLFormElement} form
 * @param {number} active how many filters are set
 * @returns {[HTMLButtonElement, HTMLFormElement]}
 */
export function foldable(key, form, active) {
  form.id ||= `${key}-filters`;
  form.classList.add("foldable");
  const button = h("button", { type: "button", class: "filters-toggle", id: `${key}-filters-toggle`, "aria-controls": form.id });
  const paint = () => {
    const open = unfolded.has(key);
    form.classList.toggle("unfolded", open);
    button.setAttribute("aria-expanded", String(open));
    button.textContent = `${open ? "▾" : "▸"} ${active ? t("filter.toggle_active", { n: active }) : t("filter.label")}`;
  };
  button.addEventListener("click", () => {
    if (!unfolded.delete(key)) unfolded.add(key);
    paint();
  });
  paint();
  return [button, form];
}

/**
 * Write params (object; arrays repeat) into the hash of `path` without duplicate history.
 * @param {string} path
 * @param {Record<string, string | readonly string[]>} params empty values are left out
 */
export function hashFor(path, params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const v of Array.isArray(value) ? value : [value]) if (v) q.append(key, v);
  }
  const s = q.toString();
  return `#/${path}${s ? `?${s}` : ""}`;
}
