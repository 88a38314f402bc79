// Every visible string goes through t(key): zh-CN and English dictionaries live in
// /lang/<code>.json (one flat object each; tests check that both have every key).

export const LANGUAGES = [
  { code: "zh-CN", label: "中文" },
  { code: "en", label: "English" },
];
export const DEFAULT_LANGUAGE = "zh-CN";
const STORE = "sw_lang"; // the login page's language before anyone is logged in

let current = DEFAULT_LANGUAGE;
let table = {};
let fallback = {};
const cache = new Map();

async function fetchTable(code) {
  if (!cache.has(code)) {
    const r = await fetch(`/lang/${code}.json`, { credentials: "same-origin" });
    if (!r.ok) throw new Error(`language file /lang/${code}.json: ${r.status}`);
    cache.set(code, await r.json());
  }
  return cache.get(code);
}

export function lang() {
  return current;
}

export function storedLanguage() {
  const v = localStorage.getItem(STORE);
  return LANGUAGES.some((l) => l.code === v) ? v : DEFAULT_LANGUAGE;
}

/** Load and switch to `code` (unknown codes fall back to the default). */
export async function setLanguage(code) {
  if (!LANGUAGES.some((l) => l.code === code)) code = DEFAULT_LANGUAGE;
  fallback = await fetchTable("en");
  table = await fetchTable(code);
  current = code;
  localStorage.setItem(STORE, code);
  document.documentElement.lang = code;
}

/** The text of `key` with {name} placeholders filled from vars. */
export function t(key, vars = {}) {
  let s = table[key] ?? fallback[key];
  if (s === undefined) {
    console.warn(`i18n: no text for ${key}`);
    s = key;
  }
  return s.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

/** t() for enumerations such as state.new, rule.smoking; unknown values show as they are. */
export function tv(prefix, value) {
  const key = `${prefix}.${value}`;
  return table[key] ?? fallback[key] ?? String(value);
}

export function fmtTime(iso) {
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
  });
}

/**
 * The time zone fmtTime() shows times in (this browser's), e.g. "Asia/Shanghai, UTC+8": a
 * time on screen or in a report is evidence only with its zone.
 */
export function tzLabel(now = new Date()) {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  const minutes = -now.getTimezoneOffset();
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  const offset = `UTC${sign}${Math.floor(abs / 60)}${abs % 60 ? `:${String(abs % 60).padStart(2, "0")}` : ""}`;
  return zone ? `${zone}, ${offset}` : offset;
}

/** "3 min ago" style age of an ISO time. */
export function fmtAgo(iso, now = Date.now()) {
  if (!iso) return "";
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return t("age.seconds", { n: s });
  if (s < 3600) return t("age.minutes", { n: Math.floor(s / 60) });
  if (s < 86400) return t("age.hours", { n: Math.floor(s / 3600) });
  return t("age.days", { n: Math.floor(s / 86400) });
}

/** A duration in seconds as "1 h 5 min", "42 s". */
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  if (s < 60) return t("duration.s", { s });
  if (s < 3600) return t("duration.ms", { m: Math.floor(s / 60), s: s % 60 });
  return t("duration.hm", { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
}

export function fmtNumber(v, digits = 0) {
  if (v === null || v === undefined) return "—";
  return Number(v).toLocaleString(current, {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

export function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${fmtNumber(n / 1024, 1)} KiB`;
  return `${fmtNumber(n / 1024 / 1024, 1)} MiB`;
}
