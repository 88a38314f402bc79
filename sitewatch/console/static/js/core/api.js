// @ts-check
// fetch wrapper for the console's API: JSON in and out, the request-origin header on every
// state-changing request, errors in the user's language: the server's answer carries a code
// and params (sitewatch/console/error_codes.py), shown as the language file's error.<code>;
// the server's English detail only for a code this page does not know, and on English pages
// (where it is the fuller text).
//
// There is no CSRF token to read: the session cookie is HttpOnly and SameSite=Strict, and a
// state-changing request is accepted when it carries the X-CSRF-Token header (a custom header
// no other site can make a browser send) and the browser's own Origin is the console's.

import { has, lang, t, tv } from "./i18n.js";

const REQUEST_HEADER = "X-CSRF-Token";
const SIGNED_IN_HINT = "sitewatch.signedIn";
const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
/** @type {Set<() => void>} */
const unauthorizedHandlers = new Set();

/**
 * A request that failed: `status` is the HTTP status (0: no answer), `detail` the body,
 * `code` the server's error code ("" when none came).
 */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} message
   * @param {unknown} detail
   * @param {string} [code]
   */
  constructor(status, message, detail, code = "") {
    super(message);
    this.status = status;
    this.detail = detail;
    this.code = code;
  }
}

/** Params the server sends as words of the page's enumerations (prefix of their texts). */
const PARAM_WORDS = /** @type {Record<string, string>} */ ({ action: "action", allowed: "action", state: "state", role: "role" });

/**
 * A server error in the user's language: the text of error.<code> filled from `params`
 * (workflow actions, states and roles in words), or null when this page has no such code.
 * @param {string} code
 * @param {Record<string, unknown>} [params]
 * @returns {string | null}
 */
export function codeText(code, params = {}) {
  if (!code || !has(`error.${code}`)) return null;
  /** @type {Record<string, string>} */
  const vars = {};
  for (const [name, value] of Object.entries(params || {})) {
    const text = Array.isArray(value) ? value.join(", ") : value === null || value === undefined ? "" : String(value);
    const prefix = PARAM_WORDS[name];
    vars[name] = prefix ? text.split(", ").map((v) => tv(prefix, v)).join("、") : text;
  }
  return t(`error.${code}`, vars);
}

/**
 * Called with no argument when a request finds the session gone (401).
 * @param {() => void} fn
 */
export function onUnauthorized(fn) {
  unauthorizedHandlers.add(fn);
}

/** @param {boolean} on */
function hint(on) {
  try {
    if (on) localStorage.setItem(SIGNED_IN_HINT, "1");
    else localStorage.removeItem(SIGNED_IN_HINT);
  } catch {
    // storage off (private mode): the boot then asks /api/auth/me every time
  }
}

/**
 * Whether this browser may hold a session. The session cookie is HttpOnly (invisible here);
 * a hint kept beside it (no secret: set when a login or /api/auth/me answers, dropped at
 * logout and at any 401) spares the login page a 401 in the console on every visit.
 */
export function maybeSignedIn() {
  try {
    return localStorage.getItem(SIGNED_IN_HINT) !== null;
  } catch {
    return true;
  }
}

/** Forget a session the server no longer knows (expired, logged out). */
export function forgetSession() {
  hint(false);
}

/** @typedef {Record<string, unknown>} Params */

/**
 * "?a=1&b=x&b=y" from {a: 1, b: ["x", "y"], c: "" (left out)}.
 * @param {Params | undefined} params
 */
export function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== undefined && v !== null && v !== "") q.append(key, String(v));
    }
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

/**
 * The edge's refusal reasons the page knows (sitewatch/edge/commands.py, the polygon check of
 * sitewatch/core/geometry.py POLYGON_MESSAGES): English template -> text key and its fields.
 * @type {[RegExp, string, string[]][]}
 */
const EDGE_REASONS = [
  [/the change was made against config version (\S+), the edge runs (\S+?):/, "edge_reason.version_mismatch", ["base", "current"]],
  [/got edge (\d+) \(corner \d+ to \d+\) crossing edge (\d+) /, "edge_reason.edges_cross", ["a", "b"]],
  [/got corner (\d+) at the same place as corner (\d+)/, "edge_reason.repeated_corner", ["second", "first"]],
  [/got corners that lie on one line/, "edge_reason.no_area", []],
];

/**
 * An edge's reason for refusing a config change in the user's language: a known template
 * translated, else the edge's own English text, marked as the edge's (the edge sends no code).
 * @param {string} reason
 */
export function edgeReason(reason) {
  for (const [pattern, key, names] of EDGE_REASONS) {
    const m = pattern.exec(reason);
    if (m) return t(key, Object.fromEntries(names.map((n, i) => [n, m[i + 1] || ""])));
  }
  return t("edge_reason.from_edge", { text: reason });
}

/**
 * @param {number} status
 * @param {any} body the error's JSON body, if any
 * @param {string} fallback
 * @returns {string}
 */
function messageOf(status, body, fallback) {
  if (lang() === "en" && body && typeof body.detail === "string") return body.detail; // the server's own words, in full
  const coded = codeText(body && typeof body.code === "string" ? body.code : `http.${status}`, body && body.params);
  if (coded !== null) return coded;
  const detail = body && body.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    // FastAPI validation errors: [{loc: [...], msg: "..."}]
    return detail
      .map((/** @type {{loc?: unknown[], msg: string}} */ d) => `${(d.loc || []).filter((p) => p !== "body").join(".")}: ${d.msg}`)
      .join("; ");
  }
  return `${status} ${fallback}`;
}

/**
 * JSON request; resolves to the parsed body (null for 204), rejects with ApiError. The body
 * is what the route's response model says (core/types.js names those the console reads); it
 * is `any` here: the caller states which.
 * @param {string} path
 * @param {{method?: string, body?: unknown, params?: Params}} [options]
 * @returns {Promise<any>}
 */
export async function api(path, { method = "GET", body, params } = {}) {
  /** @type {Record<string, string>} */
  const headers = { Accept: "application/json" };
  /** @type {RequestInit} */
  const init = { method, headers, credentials: "same-origin" };
  if (!SAFE.has(method)) headers[REQUEST_HEADER] = "console";
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path + query(params), init);
  } catch (err) {
    throw new ApiError(0, `network: ${errorText(err)}`, null);
  }
  let data = null;
  const type = response.headers.get("content-type") || "";
  if (response.status !== 204 && type.includes("json")) {
    data = await response.json().catch(() => null);
  }
  if (response.ok && (path === "/api/auth/login" || path === "/api/auth/me")) hint(true);
  if (response.ok && path === "/api/auth/logout") hint(false);
  if (!response.ok) {
    if (response.status === 401 && !path.startsWith("/api/auth/login")) {
      hint(false);
      for (const fn of unauthorizedHandlers) fn();
    }
    throw new ApiError(response.status, messageOf(response.status, data, response.statusText), data, (data && data.code) || "");
  }
  return data;
}

/**
 * What a failed request (or anything else thrown) says, for a message on the page.
 * @param {unknown} err
 */
export function errorText(err) {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The HTTP status of a failed request: 0 when there was no answer or `err` is no ApiError.
 * @param {unknown} err
 */
export function statusOf(err) {
  return err instanceof ApiError ? err.status : 0;
}
