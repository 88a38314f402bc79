// @ts-check
// Every visible string goes through t(key): zh-CN and English dictionaries live in
// /lang/<code>.json (one flat object each; tests check that both have every key).

export const LANGUAGES = [
  { code: "zh-CN", label: "中文" },
  { code: "en", label: "English" },
];
export const DEFAULT_LANGUAGE = "zh-CN";
const STORE = "sw_lang"; // the login page's language before anyone is logged in

let current = DEFAULT_LANGUAGE;
/** @typedef {Record<string, string>} Table one language: key -> text */

/** @type {Table} */
let table = {};
/** @type {Table} */
let fallback = {};
/** @type {Map<string, Table>} */
const cache = new Map();

/**
 * @param {string} code
 * @returns {Promise<Table>}
 */
async function fetchTable(code) {
  if (!cache.has(code)) {
    const r = await fetch(`/lang/${code}.json`, { credentials: "same-origin" });
    if (!r.ok) throw new Error(`language file /lang/${code}.json: ${r.status}`);
    cache.set(code, await r.json());
  }
  return /** @type {Table} */ (cache.get(code));
}

/** The language shown now. */
export function lang() {
  return current;
}

/** The language last chosen in this browser (the default if none or unknown). */
export function storedLanguage() {
  const v = localStorage.getItem(STORE);
  return v !== null && LANGUAGES.some((l) => l.code === v) ? v : DEFAULT_LANGUAGE;
}

/**
 * Load and switch to `code` (unknown codes fall back to the default).
 * @param {string} code
 */
export async function setLanguage(code) {
  if (!LANGUAGES.some((l) => l.code === code)) code = DEFAULT_LANGUAGE;
  fallback = await fetchTable("en");
  table = await fetchTable(code);
  current = code;
  localStorage.setItem(STORE, code);
  document.documentElement.lang = code;
}

/**
 * The text of `key` with {name} placeholders filled from vars.
 * @param {string} key
 * @param {Record<string, string | number>} [vars]
 * @returns {string}
 */
export function t(key, vars = {}) {
  let s = table[key] ?? fallback[key];
  if (s === undefined) {
    console.warn(`i18n: no text for ${key}`);
    s = key;
  }
  return s.replace(/\{(\w+)\}/g, (m, /** @type {string} */ name) => (name in vars ? String(vars[name]) : m));
}

/**
 * Whether the language shown now (or English, its fallback) has a text for `key`.
 * @param {string} key
 */
export function has(key) {
  return key in table || key in fallback;
}

/**
 * t() for enumerations such as state.new, rule.smoking; unknown values show as they are.
 * @param {string} prefix
 * @param {string} value
 * @returns {string}
 */
export function tv(prefix, value) {
  const key = `${prefix}.${value}`;
  return table[key] ?? fallback[key] ?? String(value);
}

/**
 * The IANA zone to show a site's times in: the one its edge reported (SiteOut.timezone, from
 * the site list the app already holds), else undefined: this browser's zone.
 * @param {{sites: import("./types.js").Site[]}} ctx
 * @param {string} siteId
 * @returns {string | undefined}
 */
export function siteZone(ctx, siteId) {
  const zone = ctx.sites.find((s) => s.id === siteId)?.timezone;
  return zone && knownZone(zone) ? zone : undefined;
}

/** @param {string} zone */
function knownZone(zone) {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/**
 * An ISO time as a local date and time in `zone` (IANA; undefined: this browser's zone).
 * @param {string | null | undefined} iso
 * @param {string} [zone]
 */
export function fmtTime(iso, zone) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString(current, {
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hour12: false,
    timeZone: zone,
  });
}

/**
 * @typedef {{year: string, month: string, day: string, hour: string, minute: string,
 *   second: string}} WallClock digits, zero-padded to 2 (the year to 4); hour 00..23
 */

/**
 * The wall-clock fields of a Date in `zone` (undefined: this browser's): year, month, ...
 * @param {Date} date
 * @param {string | undefined} zone
 * @returns {WallClock}
 */
function wallClock(date, zone) {
  const f = new Intl.DateTimeFormat("en-US", { timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return /** @type {WallClock} */ (Object.fromEntries(f.formatToParts(date).filter((p) => p.type !== "literal").map((p) => [p.type, p.value])));
}

/**
 * Minutes `zone` is ahead of UTC at `date` (480 for Asia/Shanghai).
 * @param {Date} date
 * @param {string | undefined} zone
 */
function offsetMinutes(date, zone) {
  const w = wallClock(date, zone);
  const asUtc = Date.UTC(+w.year, +w.month - 1, +w.day, +w.hour % 24, +w.minute, +w.second);
  return Math.round((asUtc - (date.getTime() - date.getUTCMilliseconds())) / 60000);
}

/**
 * "YYYY-MM-DD" of an ISO time or Date in `zone`: the day it falls on there.
 * @param {string | Date} when
 * @param {string} [zone]
 */
export function dayIn(when, zone) {
  const w = wallClock(new Date(when), zone);
  return `${w.year}-${w.month}-${w.day}`;
}

/**
 * <input type=datetime-local> value for an ISO time, as a wall clock in `zone`.
 * @param {string} iso
 * @param {string} [zone]
 */
export function toZoneInput(iso, zone) {
  if (!iso || Number.isNaN(new Date(iso).getTime())) return "";
  const w = wallClock(new Date(iso), zone);
  return `${w.year}-${w.month}-${w.day}T${String(+w.hour % 24).padStart(2, "0")}:${w.minute}`;
}

/**
 * The ISO time of a "YYYY-MM-DDTHH:MM" wall clock in `zone` ("" if it is not one).
 * @param {string} value
 * @param {string} [zone]
 */
export function fromZoneInput(value, zone) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(value || "");
  if (!m) return "";
  const [year, month, day, hour, minute] = m.slice(1, 6).map(Number);
  const wall = Date.UTC(year ?? 0, (month ?? 1) - 1, day, hour, minute);
  let t = wall - offsetMinutes(new Date(wall), zone) * 60000;
  t = wall - offsetMinutes(new Date(t), zone) * 60000; // the offset at that instant (DST)
  return new Date(t).toISOString();
}

/**
 * The time zone fmtTime() shows times in (`zone`, else this browser's), with its offset at
 * `at`, e.g. "Asia/Shanghai, UTC+8": a time on screen or in a report is evidence only with
 * its zone.
 * @param {string} [zone]
 * @param {string | Date} [at]
 */
export function tzLabel(zone, at = new Date()) {
  const name = zone || Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  if (name === "UTC" || name === "Etc/UTC") return "UTC";
  const minutes = offsetMinutes(new Date(at), zone);
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  const offset = `UTC${sign}${Math.floor(abs / 60)}${abs % 60 ? `:${String(abs % 60).padStart(2, "0")}` : ""}`;
  return name ? `${name}, ${offset}` : offset;
}

/**
 * "3 min ago" style age of an ISO time.
 * @param {string | null | undefined} iso
 * @param {number} [now] ms since the epoch
 */
export function fmtAgo(iso, now = Date.now()) {
  if (!iso) return "";
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return t("age.seconds", { n: s });
  if (s < 3600) return t("age.minutes", { n: Math.floor(s / 60) });
  if (s < 86400) return t("age.hours", { n: Math.floor(s / 3600) });
  return t("age.days", { n: Math.floor(s / 86400) });
}

/**
 * A duration in seconds as "1 h 5 min", "42 s".
 * @param {number | null | undefined} seconds
 */
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  if (s < 60) return t("duration.s", { s });
  if (s < 3600) return t("duration.ms", { m: Math.floor(s / 60), s: s % 60 });
  return t("duration.hm", { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
}

/**
 * A number in the page's language with `digits` decimals ("—" for none).
 * @param {number | null | undefined} v
 * @param {number} [digits]
 */
export function fmtNumber(v, digits = 0) {
  if (v === null || v === undefined) return "—";
  return Number(v).toLocaleString(current, {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/**
 * A size as "12 B", "3.4 KiB", "5.6 MiB".
 * @param {number} n bytes
 */
export function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${fmtNumber(n / 1024, 1)} KiB`;
  return `${fmtNumber(n / 1024 / 1024, 1)} MiB`;
}
