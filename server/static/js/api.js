// fetch wrapper for the console's API: JSON in and out, the CSRF header on every
// state-changing request, errors that carry the server's own message.

const CSRF_COOKIE = "sw_csrf";
const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
const unauthorizedHandlers = new Set();

export class ApiError extends Error {
  constructor(status, message, detail) {
    super(message);
    this.status = status;
    this.detail = detail;
  }
}

/** Called with no argument when a request finds the session gone (401). */
export function onUnauthorized(fn) {
  unauthorizedHandlers.add(fn);
}

export function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return "";
}

/**
 * Whether this browser may hold a session. The session cookie is HttpOnly (invisible here);
 * the CSRF cookie is set and deleted with it, so without it /api/auth/me can only say 401.
 */
export function maybeSignedIn() {
  return Boolean(cookie(CSRF_COOKIE));
}

/** Drop the CSRF cookie of a session the server no longer knows (expired, logged out). */
export function forgetSession() {
  document.cookie = `${CSRF_COOKIE}=; Max-Age=0; path=/; SameSite=Strict`;
}

/** "?a=1&b=x&b=y" from {a: 1, b: ["x", "y"], c: "" (left out)}. */
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

function messageOf(status, body, fallback) {
  const detail = body && body.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    // FastAPI validation errors: [{loc: [...], msg: "..."}]
    return detail
      .map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".")}: ${d.msg}`)
      .join("; ");
  }
  return `${status} ${fallback}`;
}

/** JSON request; resolves to the parsed body (null for 204), rejects with ApiError. */
export async function api(path, { method = "GET", body, params } = {}) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (!SAFE.has(method)) headers["X-CSRF-Token"] = cookie(CSRF_COOKIE);
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path + query(params), init);
  } catch (err) {
    throw new ApiError(0, `network: ${err.message}`, null);
  }
  let data = null;
  const type = response.headers.get("content-type") || "";
  if (response.status !== 204 && type.includes("json")) {
    data = await response.json().catch(() => null);
  }
  if (!response.ok) {
    if (response.status === 401 && !path.startsWith("/api/auth/login")) {
      for (const fn of unauthorizedHandlers) fn();
    }
    throw new ApiError(response.status, messageOf(response.status, data, response.statusText), data);
  }
  return data;
}
