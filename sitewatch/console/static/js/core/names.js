// @ts-check
// Display names of sites and cameras for pages that list things by id (feed, incidents, an
// alert, notifications, statistics): the site's from the site list the app holds (ctx.sites),
// the camera's and its zones' from GET /api/cameras (CameraOut.name, .zone_names), fetched on
// first use and again after a minute. A label shows the name with the id in its tooltip;
// labels made before the names arrive are filled in when they do (they carry
// data-name="<site>/<camera>[/<zone>]"). Unknown names show the id.

import { api } from "./api.js";
import { h } from "./dom.js";

const FRESH_MS = 60_000;
/** @type {Map<string, string>} "site/camera" and "site/camera/zone" -> display name */
const names = new Map();
/** @type {Promise<void> | null} */
let loading = null;
let loadedAt = 0;

/** Fetch the camera names (once a minute at most); resolves when they are in. */
export function loadNames() {
  if (loading && Date.now() - loadedAt < FRESH_MS) return loading;
  loadedAt = Date.now();
  loading = api("/api/cameras")
    .then((/** @type {{site_id: string, camera_id: string, name: string, zone_names?: Record<string, string>}[]} */ list) => {
      for (const c of list) {
        if (c.name) names.set(`${c.site_id}/${c.camera_id}`, c.name);
        for (const [zone, name] of Object.entries(c.zone_names || {})) names.set(`${c.site_id}/${c.camera_id}/${zone}`, name);
      }
      for (const el of document.querySelectorAll("[data-name]")) {
        const name = names.get(/** @type {HTMLElement} */ (el).dataset.name || "");
        if (name) el.textContent = name;
      }
    })
    .catch(() => {
      loadedAt = 0; // no camera list (a role without cameras.read, a network fault): ids
    });
  return loading;
}

/**
 * A site's display name, else its id.
 * @param {{sites: import("./types.js").Site[]}} ctx
 * @param {string} siteId
 */
export function siteName(ctx, siteId) {
  return ctx.sites.find((s) => s.id === siteId)?.name || siteId;
}

/**
 * A camera's display name, else its id.
 * @param {string} siteId
 * @param {string} cameraId
 */
export function cameraName(siteId, cameraId) {
  return names.get(`${siteId}/${cameraId}`) || cameraId;
}

/**
 * A zone's display name, else its id.
 * @param {string} siteId
 * @param {string} cameraId
 * @param {string} zoneId
 */
export function zoneName(siteId, cameraId, zoneId) {
  return names.get(`${siteId}/${cameraId}/${zoneId}`) || zoneId;
}

/**
 * The zone's name as an element (id in the tooltip), filled in once the names arrive.
 * @param {string} siteId
 * @param {string} cameraId
 * @param {string} zoneId
 */
export function zoneLabel(siteId, cameraId, zoneId) {
  void loadNames();
  return h("span", { title: zoneId, dataset: { name: `${siteId}/${cameraId}/${zoneId}` }, text: zoneName(siteId, cameraId, zoneId) });
}

/**
 * The camera's name as an element (id in the tooltip), filled in once the names arrive.
 * @param {string} siteId
 * @param {string} cameraId
 * @param {string} [className]
 */
export function cameraLabel(siteId, cameraId, className = "") {
  void loadNames();
  return h("span", { class: className || false, title: cameraId, dataset: { name: `${siteId}/${cameraId}` }, text: cameraName(siteId, cameraId) });
}

/**
 * The site's name as an element (id in the tooltip).
 * @param {{sites: import("./types.js").Site[]}} ctx
 * @param {string} siteId
 * @param {string} [className]
 */
export function siteLabel(ctx, siteId, className = "") {
  return h("span", { class: className || false, title: siteId, text: siteName(ctx, siteId) });
}
