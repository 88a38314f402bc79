// @ts-check
// The audible cue for a new alert: a short two-tone beep made with WebAudio (no file to load).
// Browsers keep audio suspended until the user has interacted with the page; until then the
// beep is skipped quietly and the first click or key press unlocks it. Mute is remembered.

const KEY = "sw_muted";
/** @type {AudioContext | null} */
let context = null;

/** Whether the cue is off (kept in this browser). */
export function muted() {
  return localStorage.getItem(KEY) === "1";
}

/** @param {boolean} value */
export function setMuted(value) {
  localStorage.setItem(KEY, value ? "1" : "0");
}

function audio() {
  if (context) return context;
  /** @type {typeof AudioContext | undefined} older Safari names it webkitAudioContext */
  const Ctx = window.AudioContext || /** @type {any} */ (window).webkitAudioContext;
  if (!Ctx) return null;
  try {
    context = new Ctx();
  } catch {
    context = null;
  }
  return context;
}

/** Resume audio after a user gesture (wired to the first click / key press). */
export function unlock() {
  const ctx = audio();
  if (ctx && ctx.state === "suspended") ctx.resume().catch(() => {});
}

/** Unlock audio at the first click or key press on the page. */
export function installUnlock() {
  const once = () => {
    unlock();
    window.removeEventListener("pointerdown", once);
    window.removeEventListener("keydown", once);
  };
  window.addEventListener("pointerdown", once);
  window.addEventListener("keydown", once);
}

/** Beep unless muted; the count of cues is kept on <body data-cues> (seen by tests). */
export function beep() {
  if (muted()) return false;
  document.body.dataset.cues = String(Number(document.body.dataset.cues || 0) + 1);
  const ctx = audio();
  if (!ctx) return false;
  if (ctx.state === "suspended") {
    ctx.resume().catch(() => {});
    if (ctx.state === "suspended") return false; // no user gesture yet: stay quiet
  }
  try {
    const now = ctx.currentTime;
    const gain = ctx.createGain();
    gain.connect(ctx.destination);
    gain.gain.setValueAtTime(0.0001, now);
    gain.gain.exponentialRampToValueAtTime(0.25, now + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.5);
    /** @type {[number, number][]} Hz, s after now */
    const tones = [
      [880, 0],
      [1320, 0.18],
    ];
    for (const [freq, at] of tones) {
      const osc = ctx.createOscillator();
      osc.type = "sine";
      osc.frequency.value = freq;
      osc.connect(gain);
      osc.start(now + at);
      osc.stop(now + at + 0.16);
    }
    return true;
  } catch {
    return false;
  }
}
