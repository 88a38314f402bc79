// @ts-check
// Users (admins, users.manage): list, create, change role / sites / cameras / language, reset
// a password, disable or enable. Cameras limit a user to some cameras of their sites
// ("site/camera" entries); left empty, the user sees every camera of their sites.

import { api, errorText } from "../core/api.js";
import { fill, h } from "../core/dom.js";
import { LANGUAGES, t, tv } from "../core/i18n.js";

/** @typedef {import("../core/types.js").Ctx} Ctx */
/** @typedef {import("../core/types.js").User} User */

export const ROLES = ["admin", "manager", "police", "operator"];

// Sites this console has not heard of yet (a site appears when its edge first reports):
// most likely a typo, so the admin is asked before the user is saved with them.
/**
 * @param {string[]} list site ids
 * @param {Ctx} ctx
 */
const unknownSites = (list, ctx) => list.filter((s) => s !== "*" && !ctx.sites.some((x) => x.id === s));
/**
 * @param {string[]} list site ids
 * @param {Ctx} ctx
 */
const confirmSites = (list, ctx) => {
  const unknown = unknownSites(list, ctx);
  return !unknown.length || confirm(t("users.unknown_sites", { sites: unknown.join(", ") }));
};

/** @param {string} s "north, south" (commas, spaces or 「，」) */
const splitSites = (s) =>
  s
    .split(/[\s,，]+/)
    .map((x) => x.trim())
    .filter(Boolean);

// "north/gate, north/crane" -> the entries; empty -> null (every camera of the user's sites)
/**
 * @param {string} s
 * @returns {string[] | null}
 */
const splitCameras = (s) => {
  const entries = splitSites(s);
  return entries.length ? entries : null;
};
/**
 * @param {string[] | null} a
 * @param {string[] | null} b
 */
const sameCameras = (a, b) => JSON.stringify(a || null) === JSON.stringify(b || null);

/**
 * @param {string} id
 * @param {string} value
 */
function roleSelect(id, value) {
  return h("select", { id }, ROLES.map((r) => h("option", { value: r, selected: r === value, text: tv("role", r) })));
}

/**
 * @param {string} id
 * @param {string} value
 */
function langSelect(id, value) {
  return h("select", { id }, LANGUAGES.map((l) => h("option", { value: l.code, selected: l.code === value, text: l.label })));
}

/**
 * The form that creates a user; onCreated gets the message to show.
 * @param {(message: string) => void} onCreated
 * @param {Ctx} ctx
 */
function createForm(onCreated, ctx) {
  const username = h("input", { id: "new-username", required: true, autocomplete: "off", pattern: "[A-Za-z0-9][A-Za-z0-9._@\\-]{0,63}" });
  const password = h("input", { id: "new-password", type: "password", required: true, minlength: 10, autocomplete: "new-password" });
  const role = roleSelect("new-role", "manager");
  const sites = h("input", { id: "new-sites", required: true, placeholder: t("users.sites_hint") });
  const cameras = h("input", { id: "new-cameras", placeholder: t("users.cameras_hint") });
  const language = langSelect("new-language", "zh-CN");
  const message = h("p", { class: "error", role: "alert" });
  const form = h(
    "form",
    { class: "panel create-user", "aria-labelledby": "create-title" },
    h("h2", { id: "create-title", text: t("users.create") }),
    h(
      "div",
      { class: "grid-form" },
      h("div", { class: "field" }, h("label", { for: "new-username", text: t("users.username") }), username),
      h("div", { class: "field" }, h("label", { for: "new-password", text: t("users.password") }), password, h("span", { class: "muted small", text: t("users.password_hint") })),
      h("div", { class: "field" }, h("label", { for: "new-role", text: t("users.role") }), role),
      h("div", { class: "field" }, h("label", { for: "new-sites", text: t("users.sites") }), sites),
      h("div", { class: "field" }, h("label", { for: "new-cameras", text: t("users.cameras") }), cameras, h("span", { class: "muted small", text: t("users.cameras_help") })),
      h("div", { class: "field" }, h("label", { for: "new-language", text: t("users.language") }), language),
    ),
    h("button", { type: "submit", class: "primary", text: t("users.create_button") }),
    message,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.textContent = "";
    try {
      const name = username.value.trim();
      if (!confirmSites(splitSites(sites.value), ctx)) return;
      await api("/api/users", { method: "POST", body: { username: name, password: password.value, role: role.value, sites: splitSites(sites.value), cameras: splitCameras(cameras.value), language: language.value } });
      form.reset();
      onCreated(t("users.created", { user: name }));
    } catch (err) {
      message.textContent = t("users.failed", { detail: errorText(err) });
    }
  });
  return form;
}

/**
 * One user's row: its fields are edited in place and saved with its button.
 * @param {User} u
 * @param {User | null} me the signed-in user (who may not disable themselves)
 * @param {(message: string) => void} reload
 * @param {Ctx} ctx
 */
function userRow(u, me, reload, ctx) {
  const key = u.username.replace(/[^A-Za-z0-9_-]/g, "_");
  const role = roleSelect(`role-${key}`, u.role);
  const sites = h("input", { id: `sites-${key}`, value: u.sites.join(", "), "aria-label": t("users.sites_of", { user: u.username }) });
  const cameras = h("input", { id: `cameras-${key}`, value: (u.cameras || []).join(", "), placeholder: t("users.cameras_all"), "aria-label": t("users.cameras_of", { user: u.username }) });
  const language = langSelect(`lang-${key}`, u.language);
  role.setAttribute("aria-label", t("users.role_of", { user: u.username }));
  language.setAttribute("aria-label", t("users.language_of", { user: u.username }));
  const password = h("input", { type: "password", minlength: 10, autocomplete: "new-password", placeholder: t("users.new_password"), "aria-label": t("users.password_of", { user: u.username }) });
  const message = h("span", { class: "error small", role: "alert" });
  /** @param {Record<string, unknown>} body UserUpdateIn */
  const patch = async (body) => {
    message.textContent = "";
    try {
      await api(`/api/users/${encodeURIComponent(u.username)}`, { method: "PATCH", body });
      reload(t("users.saved", { user: u.username }));
    } catch (err) {
      message.textContent = t("users.failed", { detail: errorText(err) });
    }
  };
  const save = h("button", {
    type: "button",
    text: t("users.save"),
    onclick: () => {
      /** @type {{role: string, sites: string[], language: string, cameras?: string[] | null, password?: string}} */
      const body = { role: role.value, sites: splitSites(sites.value), language: language.value };
      if (!confirmSites(body.sites.filter((s) => !u.sites.includes(s)), ctx)) return; // new ones only
      const scope = splitCameras(cameras.value);
      if (!sameCameras(scope, u.cameras)) body.cameras = scope; // null lifts the limit
      if (password.value) body.password = password.value;
      patch(body);
    },
  });
  const self = u.username === me?.username;
  const toggle = h("button", {
    type: "button",
    class: u.active ? "danger" : "",
    disabled: self,
    title: self ? t("users.not_self") : "",
    text: u.active ? t("users.disable") : t("users.enable"),
    onclick: () => patch({ active: !u.active }),
  });
  return h(
    "tr",
    { dataset: { user: u.username }, class: u.active ? "" : "inactive" },
    h("th", { scope: "row" }, u.username, u.active ? null : h("span", { class: "badge", text: t("users.disabled") })),
    h("td", {}, role),
    h("td", {}, sites),
    h("td", {}, cameras),
    h("td", {}, language),
    h("td", {}, password),
    h("td", { class: "buttons" }, save, toggle, message),
  );
}

/** @type {import("../core/types.js").Mount} */
export function mount(root, ctx) {
  const body = h("tbody", {});
  const error = h("p", { class: "error", role: "alert" });
  // what the last save or create did: the rows are redrawn, so say it above them
  const done = h("p", { class: "done", id: "users-status", role: "status" });
  const load = async (message = "") => {
    try {
      /** @type {User[]} */
      const users = await api("/api/users");
      error.textContent = "";
      done.textContent = message;
      fill(body, users.map((u) => userRow(u, ctx.me, load, ctx)));
    } catch (err) {
      error.textContent = t("users.load_failed", { detail: errorText(err) });
    }
  };
  fill(
    root,
    h("h1", { text: t("users.title") }),
    error,
    done,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "users", id: "users" },
        h("thead", {}, h("tr", {}, ["users.username", "users.role", "users.sites", "users.cameras", "users.language", "users.password", "users.actions"].map((k) => h("th", { scope: "col", text: t(k) })))),
        body,
      ),
    ),
    createForm(load, ctx),
  );
  load();
}
