// @ts-check
// Browser notifications: with this tab open, a new incident (or, if the user chose so, a new
// alert) from the live stream shows a Notification (title: rule and camera, body: site and
// time in the site's zone; a click focuses the console on it). Permission is asked only from
// the button of panel() (the Notifications page), never on page load. The same button also
// subscribes this browser to Web Push (the service worker /sw.js shows those while no tab is
// open) where the browser's push service can be reached. The live stream is already limited
// to the user's sites and cameras.

import { api, errorText } from "../core/api.js";
import { h } from "../core/dom.js";
import { fmtTime, siteZone, t, tv } from "../core/i18n.js";

/** @typedef {import("../core/types.js").Ctx} Ctx */
/** @typedef {"incidents" | "alerts" | "off"} Choice what to notify of */

const STORE = "sitewatch.browserNotify";
const CHOICES = /** @type {const} */ (["incidents", "alerts", "off"]);
/** @type {Set<string>} incidents and alerts already seen in this tab: each is notified once */
const seen = new Set();
/** @type {Map<string, string>} "site/camera" -> display name */
const cameraNames = new Map();
let namesAt = 0;

/** @returns {Choice} */
export function choice() {
  const v = localStorage.getItem(STORE);
  return v === "alerts" || v === "off" ? v : "incidents";
}

/** Whether this browser can show notifications and the user allowed them. */
function granted() {
  return "Notification" in window && Notification.permission === "granted";
}

/** @param {string} siteId @param {string} cameraId */
async function cameraName(siteId, cameraId) {
  const key = `${siteId}/${cameraId}`;
  if (!cameraNames.has(key) && Date.now() - namesAt > 60000) {
    namesAt = Date.now();
    try {
      /** @type {{site_id: string, camera_id: string, name: string}[]} */
      const cameras = await api("/api/cameras");
      for (const c of cameras) cameraNames.set(`${c.site_id}/${c.camera_id}`, c.name || c.camera_id);
    } catch (err) {
      console.warn("browser notifications: camera names", errorText(err));
    }
  }
  return cameraNames.get(key) || cameraId;
}

/**
 * Show one notification; a click brings this tab forward on `hash`.
 * @param {Ctx} ctx
 * @param {{id: string, site_id: string, camera_id: string, rule: string, at: string, hash: string}} what
 */
async function show(ctx, what) {
  const site = ctx.sites.find((s) => s.id === what.site_id);
  const camera = await cameraName(what.site_id, what.camera_id);
  const title = t("browser_notify.title", { rule: tv("rule", what.rule), camera });
  const body = t("browser_notify.body", { site: site?.name || what.site_id, time: fmtTime(what.at, siteZone(ctx, what.site_id)) });
  const note = new Notification(title, { body, tag: what.id, icon: "/favicon.svg" });
  note.onclick = () => {
    window.focus();
    ctx.navigate(what.hash);
    note.close();
  };
}

/**
 * Listen to the live stream for what to notify of, and follow the service worker's "open"
 * messages (a click on a push notification); once, at start.
 * @param {Ctx} ctx
 */
export function install(ctx) {
  ctx.live.on("incident", (i) => {
    const fresh = !seen.has(i.id);
    seen.add(i.id);
    if (!fresh || i.alert_count !== 1 || i.state !== "new" || choice() !== "incidents" || !granted()) return;
    const hash = i.best_alert_id ? `#/alert/${encodeURIComponent(i.best_alert_id)}` : "#/incidents";
    show(ctx, { id: `incident:${i.id}`, site_id: i.site_id, camera_id: i.camera_id, rule: i.rule, at: i.first_at, hash });
  });
  ctx.live.on("alert", (a) => {
    const fresh = !seen.has(a.id);
    seen.add(a.id);
    if (!fresh || a.seq !== 0 || a.state !== "new" || choice() !== "alerts" || !granted()) return;
    const hash = `#/alert/${encodeURIComponent(a.id)}`;
    show(ctx, { id: `alert:${a.id}`, site_id: a.site_id, camera_id: a.camera_id, rule: a.rule, at: a.started_at, hash });
  });
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.addEventListener("message", (event) => {
      const data = /** @type {{type?: string, url?: string}} */ (event.data || {});
      if (data.type === "sitewatch.open" && typeof data.url === "string") ctx.navigate(data.url.replace(/^\/?/, ""));
    });
  }
}

/**
 * Register the service worker and subscribe this browser to Web Push; resolves to what
 * happened, for the panel to say. The push service may be out of reach (no network to it).
 * @returns {Promise<string>}
 */
async function subscribePush() {
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) return t("browser_notify.push_unsupported");
  try {
    const registration = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
    await navigator.serviceWorker.ready;
    /** @type {{public_key: string}} */
    const { public_key } = await api("/api/push/key");
    const subscription =
      (await registration.pushManager.getSubscription()) ||
      (await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: public_key }));
    await api("/api/push/subscriptions", { method: "POST", body: subscription.toJSON() });
    return t("browser_notify.push_on");
  } catch (err) {
    return t("browser_notify.push_failed", { detail: errorText(err) });
  }
}

/**
 * On logout: stop pushing to this browser (the console forgets its subscription, the browser
 * drops it); nothing to do where it never subscribed.
 */
export async function forgetPush() {
  if (!("serviceWorker" in navigator)) return;
  try {
    const registration = await navigator.serviceWorker.getRegistration("/");
    const subscription = registration && (await registration.pushManager.getSubscription());
    if (!subscription) return;
    await api("/api/push/subscriptions", { method: "DELETE", body: { endpoint: subscription.endpoint } }).catch(() => null);
    await subscription.unsubscribe();
  } catch (err) {
    console.warn("browser notifications: push not forgotten", errorText(err));
  }
}

/** The Notifications page's part: what to notify of, and the button that asks permission. */
export function panel() {
  const status = h("span", { class: "small", id: "browser-notify-status", role: "status" });
  const select = h(
    "select",
    { id: "browser-notify-choice" },
    CHOICES.map((c) => h("option", { value: c, selected: c === choice(), text: t(`browser_notify.choice.${c}`) })),
  );
  select.addEventListener("change", () => localStorage.setItem(STORE, select.value));
  const button = h("button", { type: "button", id: "browser-notify-allow" });
  const paint = () => {
    const supported = "Notification" in window;
    const state = supported ? Notification.permission : "unsupported";
    button.textContent = t(`browser_notify.permission.${state}`);
    button.disabled = state !== "default" && state !== "granted";
    button.dataset.permission = state;
  };
  button.addEventListener("click", async () => {
    if (!("Notification" in window)) return;
    const answer = Notification.permission === "granted" ? "granted" : await Notification.requestPermission();
    paint();
    if (answer !== "granted") {
      status.textContent = t("browser_notify.denied");
      return;
    }
    status.textContent = t("browser_notify.on");
    status.textContent = `${t("browser_notify.on")} ${await subscribePush()}`;
  });
  paint();
  return h(
    "div",
    { class: "filters", id: "browser-notify" },
    h("div", { class: "field" }, h("label", { for: "browser-notify-choice", text: t("browser_notify.choice_label") }), select),
    h("div", { class: "field buttons" }, button, status),
  );
}
