// @ts-check
// The console's shell: login, header (navigation, open alerts per site, live status, mute,
// language, user), the hash router and the live event stream shared by all views.

import { api, errorText, forgetSession, maybeSignedIn, onUnauthorized, statusOf } from "./core/api.js";
import { byId, debounce, fill, h } from "./core/dom.js";
import { LANGUAGES, lang, setLanguage, storedLanguage, t } from "./core/i18n.js";
import { Live } from "./core/live.js";
import { loginView } from "./views/login.js";
import * as sound from "./widgets/sound.js";
import * as browserNotify from "./widgets/browser_notify.js";
import * as feed from "./views/feed.js";
import * as incidents from "./views/incidents.js";
import * as alert from "./views/alert.js";
import * as cameras from "./views/cameras.js";
import * as stats from "./views/stats.js";
import * as zones from "./views/zones.js";
import * as users from "./views/users.js";
import * as audit from "./views/audit.js";
import * as notify from "./views/notify.js";
import * as cameraEditor from "./views/camera_editor.js";
import * as liveView from "./views/live.js";

/** @typedef {import("./core/types.js").User} User */
/** @typedef {import("./core/types.js").Site} Site */
/** @typedef {{path: string, cap: string, module: {mount: import("./core/types.js").Mount}}} View */

// Navigation entries, shown only to roles with the capability.
/** @type {(View & {label: string})[]} */
const VIEWS = [
  // incidents first: the page after login and the brand link (a flood of alerts is one row each)
  { path: "incidents", cap: "alerts.read", module: incidents, label: "nav.incidents" },
  { path: "alerts", cap: "alerts.read", module: feed, label: "nav.alerts" },
  { path: "cameras", cap: "cameras.read", module: cameras, label: "nav.cameras" },
  { path: "live", cap: "video.view", module: liveView, label: "nav.live" },
  { path: "stats", cap: "stats.read", module: stats, label: "nav.stats" },
  { path: "zones", cap: "config.write", module: zones, label: "nav.zones" },
  { path: "users", cap: "users.manage", module: users, label: "nav.users" },
  { path: "audit", cap: "audit.read", module: audit, label: "nav.audit" },
  { path: "notify", cap: "alerts.read", module: notify, label: "nav.notify" },
];
/** @type {View[]} */
const HIDDEN = [
  { path: "alert", cap: "alerts.read", module: alert },
  { path: "camera", cap: "config.write", module: cameraEditor },
];

const root = byId("app");
const live = new Live();
/** @type {User | null} */
let me = null;
/** @type {Site[]} */
let sites = [];
/** @type {(() => void) | null} */
let unmount = null;
/** @type {(() => string | false | null) | null} the mounted view's "unsaved changes?" check */
let guard = null;
let shownHash = location.hash; // the address of the view on screen
/** @type {Set<string>} alert ids already on screen or heard: no second beep */
const known = new Set();

/**
 * What views get: the user, capability checks, live events, sites, helpers.
 * @type {import("./core/types.js").Ctx}
 */
const ctx = {
  get me() {
    return me;
  },
  can: (cap) => Boolean(me && me.capabilities.includes(cap)),
  live,
  get sites() {
    return sites;
  },
  refreshSites: () => refreshSites(),
  navigate: (hash) => {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
  remember: (ids) => ids.forEach((id) => known.add(id)),
  /** The view has edits that leaving would lose while check() returns a message. */
  guard: (check) => {
    guard = check;
  },
};

/**
 * Whether the view on screen may go: true when it has no unsaved edits or the user agrees to
 * drop them (asked once; then the view is left).
 */
function mayLeave() {
  const message = guard && guard();
  if (!message) return true;
  if (!window.confirm(message)) return false;
  guard = null;
  return true;
}

/**
 * The view's path parts and parameters from "#/alert/<id>?a=b".
 * @param {string} [hash]
 */
export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#\/?/, "");
  const [path = "", search = ""] = raw.split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(search) };
}

function route() {
  if (!me) return;
  if (location.hash !== shownHash && !mayLeave()) {
    // back / forward or a typed address: the router cannot cancel the hashchange, so put the
    // address of the view that stays back (replaceState fires no second hashchange)
    history.replaceState(null, "", shownHash || location.pathname);
    return;
  }
  shownHash = location.hash;
  guard = null;
  const { parts, params } = parseHash();
  const allowed = VIEWS.filter((v) => ctx.can(v.cap));
  let view = [...VIEWS, ...HIDDEN].find((v) => v.path === parts[0] && ctx.can(v.cap));
  if (!view) view = allowed[0];
  if (unmount) unmount();
  unmount = null;
  for (const a of /** @type {NodeListOf<HTMLAnchorElement>} */ (document.querySelectorAll("nav.main a"))) {
    const current = a.dataset.path === view?.path || (view?.path === "alert" && a.dataset.path === "alerts");
    if (current) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const main = byId("main");
  if (!view) {
    fill(main, h("p", { class: "empty", text: t("app.nothing_allowed") }));
    return;
  }
  // a filter change re-mounts the view: keep the keyboard on the control that changed it
  const active = document.activeElement;
  const focused = active && main.contains(active) && active.id;
  fill(main);
  unmount = view.module.mount(main, ctx, parts.slice(1), params) || null;
  const again = focused && document.getElementById(focused);
  (again || main).focus({ preventScroll: true });
}

async function refreshSites() {
  try {
    sites = await api("/api/sites");
  } catch (err) {
    console.warn("sites", errorText(err));
    return;
  }
  renderBadges();
}
const refreshSitesSoon = debounce(refreshSites, 400);

function renderBadges() {
  const box = document.getElementById("site-badges");
  if (!box) return;
  let total = 0;
  const chips = sites.map((site) => {
    total += site.open_alerts;
    return h(
      "a",
      {
        class: ["site-badge", site.open_alerts > 0 && "has-open"],
        href: `#/incidents?site=${encodeURIComponent(site.id)}`,
        title: t("badge.title", { site: site.name || site.id, n: site.open_alerts, edge: t(`edge.${site.edge_state}`) }),
        dataset: { site: site.id, open: String(site.open_alerts), edge: site.edge_state },
      },
      h("span", { class: "dot", "aria-hidden": "true" }),
      h("span", { class: "name", text: site.name || site.id }),
      h("span", { class: "count", text: String(site.open_alerts) }),
    );
  });
  fill(box, chips);
  document.title = total > 0 ? `(${total}) ${t("app.title")}` : t("app.title");
}

/** @param {import("./core/types.js").Alert} a */
function onAlertEvent(a) {
  const fresh = !known.has(a.id);
  known.add(a.id);
  // a new violation: its first message, not yet on this screen, nobody has acted on it
  if (fresh && a.state === "new" && a.seq === 0) sound.beep();
  refreshSitesSoon();
}

/** A small speaker drawn in SVG (no icon font or emoji font needed), crossed out when muted. */
/** @param {boolean} muted */
function speakerIcon(muted) {
  return h(
    "svg:svg",
    { viewBox: "0 0 24 24", width: 18, height: 18, class: "icon", "aria-hidden": "true" },
    h("svg:path", { d: "M3 9h4l5-4v14l-5-4H3z", fill: "currentColor" }),
    muted
      ? h("svg:path", { d: "M16 9l6 6M22 9l-6 6", stroke: "currentColor", "stroke-width": 2, fill: "none" })
      : h("svg:path", { d: "M16 8.5a5 5 0 0 1 0 7M18.5 6a8.5 8.5 0 0 1 0 12", stroke: "currentColor", "stroke-width": 2, fill: "none" }),
  );
}

function muteButton() {
  const button = h("button", { type: "button", class: "icon-button", id: "mute" });
  const paint = () => {
    const m = sound.muted();
    button.setAttribute("aria-pressed", String(m));
    fill(button, speakerIcon(m), " ", m ? t("sound.muted") : t("sound.on"));
    button.title = m ? t("sound.unmute") : t("sound.mute");
  };
  button.addEventListener("click", () => {
    sound.setMuted(!sound.muted());
    sound.unlock();
    paint();
  });
  paint();
  return button;
}

function languageSelect() {
  const select = h(
    "select",
    { id: "language", "aria-label": t("app.language") },
    LANGUAGES.map((l) => h("option", { value: l.code, selected: l.code === lang() }, l.label)),
  );
  select.addEventListener("change", async () => {
    select.setCustomValidity("");
    if (!mayLeave()) {
      select.value = lang(); // the view is drawn again in the new language
      return;
    }
    /** @type {User} */
    let user;
    try {
      user = await api("/api/auth/me/language", { method: "PUT", body: { language: select.value } });
    } catch (err) {
      select.value = lang();
      select.setCustomValidity(t("app.language_failed", { detail: errorText(err) }));
      select.reportValidity();
      return;
    }
    me = user;
    await setLanguage(user.language);
    renderShell(user);
    route();
  });
  return select;
}

function liveIndicator() {
  const el = h("span", { class: "live", id: "live-status", role: "status" });
  /** @param {string} status */
  const paint = (status) => {
    el.dataset.status = status;
    el.textContent = t(`live.${status}`);
  };
  paint(document.body.dataset.live || "connecting");
  live.on("status", paint);
  return el;
}

/** To the content, past the header (without "#main" in the address: the router would go there). */
function skipLink() {
  /** @param {Event} event */
  const focusMain = (event) => {
    event.preventDefault();
    byId("main").focus();
  };
  return h("a", { class: "skip", href: "#main", text: t("app.skip"), onclick: focusMain });
}

/** @param {User} user the signed-in user */
function renderShell(user) {
  const nav = h(
    "nav",
    { class: "main", "aria-label": t("nav.label") },
    VIEWS.filter((v) => ctx.can(v.cap)).map((v) =>
      h("a", { href: `#/${v.path}`, dataset: { path: v.path }, text: t(v.label) }),
    ),
  );
  const header = h(
    "header",
    { class: "top" },
    h("a", { class: "brand", href: "#/", text: t("app.title") }),
    nav,
    h("div", { class: "site-badges", id: "site-badges", "aria-label": t("badge.label") }),
    h(
      "div",
      { class: "tools" },
      liveIndicator(),
      muteButton(),
      languageSelect(),
      h("span", { class: "who", text: `${user.username} · ${t(`role.${user.role}`)}` }),
      h("button", { type: "button", id: "logout", onclick: logout, text: t("app.logout") }),
    ),
  );
  const banner = h("p", { class: "banner", id: "ingest-banner", role: "alert", hidden: true, text: t("app.ingest_down") });
  fill(root, skipLink(), header, banner, h("main", { id: "main", tabindex: "-1" }));
  headerHeight.disconnect();
  headerHeight.observe(header);
  renderBadges();
  checkHealth();
}

// The sticky header's height as --header-h: what sticks under it (the feed's "new alerts"
// banner) and rows scrolled into view keep clear of it. 0 where the header does not stick.
const headerHeight = new ResizeObserver(([entry]) => {
  if (!entry) return;
  const sticky = getComputedStyle(entry.target).position === "sticky";
  document.documentElement.style.setProperty("--header-h", `${sticky ? Math.ceil(entry.target.getBoundingClientRect().height) : 0}px`);
});

// The console itself may lose the MQTT broker: then no alert reaches any screen. Say so.
const HEALTH_MS = 20000;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let healthTimer;

async function checkHealth() {
  clearTimeout(healthTimer);
  if (!me) return;
  let down = false;
  try {
    down = !(await api("/api/health")).ingest_connected;
  } catch {
    down = false; // the console itself unreachable shows as the live status instead
  }
  const banner = document.getElementById("ingest-banner");
  if (banner) banner.hidden = !down;
  healthTimer = setTimeout(checkHealth, HEALTH_MS);
}

async function logout() {
  if (!mayLeave()) return;
  await browserNotify.forgetPush(); // no pushes for this user to a browser they left
  try {
    await api("/api/auth/logout", { method: "POST" });
  } catch (err) {
    console.warn("logout", errorText(err));
  }
  signedOut();
}

function signedOut() {
  if (unmount) unmount();
  unmount = null;
  guard = null;
  me = null;
  sites = [];
  clearTimeout(healthTimer);
  live.stop();
  fill(root, loginView(signedIn));
}

/** @param {User} user */
async function signedIn(user) {
  me = user;
  await setLanguage(user.language);
  renderShell(user);
  live.start();
  await refreshSites(); // the filters list the user's sites
  route();
}

async function boot() {
  sound.installUnlock();
  live.on("alert", onAlertEvent);
  browserNotify.install(ctx); // notifications of new incidents or alerts, once allowed
  live.on("site", refreshSitesSoon);
  live.on("open", refreshSites);
  live.on("open", () => checkHealth());
  onUnauthorized(() => {
    if (me) signedOut();
  });
  window.addEventListener("hashchange", route);
  // a link of the app's own (navigation, site badge, back): ask before the address changes
  document.addEventListener(
    "click",
    (event) => {
      const target = /** @type {Element | null} */ (event.target);
      const link = /** @type {HTMLAnchorElement | null} */ (target?.closest?.("a[href^='#/']"));
      if (!link || event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || link.target) return;
      if (link.getAttribute("href") !== location.hash && !mayLeave()) event.preventDefault();
    },
    true,
  );
  // closing the tab, reloading, typing another site's address
  window.addEventListener("beforeunload", (event) => {
    if (guard && guard()) {
      event.preventDefault();
      event.returnValue = "";
    }
  });
  /** @type {User | null} */
  let user = null;
  // no sign of a session (see maybeSignedIn): the login page without a 401 in the console
  if (maybeSignedIn()) {
    try {
      user = await api("/api/auth/me");
    } catch (err) {
      user = null;
      if (statusOf(err) === 401) forgetSession(); // ended by the server: no 401 on the next visit
    }
  }
  if (user) {
    await signedIn(user);
  } else {
    await setLanguage(storedLanguage());
    signedOut();
  }
  document.body.dataset.ready = "1";
}

boot();
