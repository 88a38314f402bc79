// @ts-check
// A live <video> of one camera: the console's fMP4 stream fed through Media Source Extensions
// (widgets/mse_feed.js), kept within a few seconds of the live edge.
//
// Where the MediaSource lives:
// - Chromium (desktop, Android): in a dedicated worker (mse_worker.js); the <video> gets its
//   handle as srcObject. No blob: URL, which the console's CSP (media-src 'self') refuses.
// - Safari 17+ / iPhone iOS 17.1+: ManagedMediaSource (iPhones have no classic MediaSource) on
//   the page, given as srcObject where the browser takes a MediaSource there, else as a blob:
//   URL (that one needs "media-src 'self' blob:" in the CSP; without it the load is refused
//   and the player reports "unsupported").
// - No MSE at all (iPhones before iOS 17.1): the player reports "unsupported" at once and the
//   page offers the latest playback window instead (plain MP4 over HTTP range requests, which
//   every browser plays natively): not live, but the last minute.

import { feed, mediaSourceClass, workerMse } from "./mse_feed.js";

/** The most the play position may trail the newest buffered frame before it jumps ahead, s. */
export const MAX_LAG_S = 2.5;
/** Where a jump lands: this far behind the newest buffered frame, s. */
const LAND_S = 0.4;
const CHECK_MS = 500;

/**
 * @typedef {"connecting" | "playing" | "error" | "ended" | "unsupported"} PlayerState
 * @typedef {import("./mse_feed.js").FeedAnswer} FeedAnswer
 * @typedef {(state: PlayerState, answer?: FeedAnswer, why?: string) => void} OnState
 */

/**
 * A muted, inline <video> playing `url` live; `onState` hears how it goes. Call stop() when
 * the view goes (the console ends the upstream 30 s after its last viewer).
 * @param {string} url GET /api/video/live/{site}/{camera}?stream=...
 * @param {OnState} onState
 * @returns {{video: HTMLVideoElement, stop: () => void}}
 */
export function livePlayer(url, onState) {
  const video = document.createElement("video");
  Object.assign(video, { muted: true, autoplay: true, playsInline: true, disableRemotePlayback: true });
  video.setAttribute("playsinline", "");
  video.dataset.mode = "live";
  video.dataset.bytes = "0";
  /** @type {Worker | null} */
  let worker = null;
  const abort = new AbortController();
  let stopped = false;

  /** @param {FeedAnswer} answer */
  const answered = (answer) => {
    if (stopped) return;
    if (answer.ok) onState("connecting", answer);
    else onState(answer.code === "no_mse" || answer.code === "mime_unsupported" ? "unsupported" : "error", answer);
  };
  /** @param {number} bytes */
  const progress = (bytes) => {
    video.dataset.bytes = String(bytes);
  };
  /** @param {string} why */
  const ended = (why) => {
    if (!stopped) onState(why ? "error" : "ended", undefined, why);
  };

  if (workerMse()) {
    worker = new Worker(new URL("./mse_worker.js", import.meta.url), { type: "module" });
    worker.onmessage = (event) => {
      const data = event.data || {};
      if (data.type === "answer") answered(data.answer);
      else if (data.type === "handle") video.srcObject = data.handle;
      else if (data.type === "progress") progress(data.bytes);
      else if (data.type === "end") ended(data.why);
    };
    worker.onerror = (event) => ended(`worker: ${event.message}`);
    worker.postMessage({ type: "start", url: new URL(url, location.href).href });
  } else if (mediaSourceClass()) {
    feed(url, abort.signal, {
      answer: answered,
      attach: (ms) => attachOnPage(video, ms),
      progress,
      end: ended,
      playhead: () => video.currentTime,
    });
  } else {
    queueMicrotask(() => onState("unsupported"));
  }

  let playing = false;
  const timer = setInterval(() => {
    const b = video.buffered;
    if (!b.length) return;
    const start = b.start(0);
    const end = b.end(b.length - 1);
    // a late viewer's first fragment starts where the stream is now, not at 0
    if (video.currentTime < start || end - video.currentTime > MAX_LAG_S) video.currentTime = Math.max(start, end - LAND_S);
    if (video.paused) video.play().catch(() => {});
    if (worker) worker.postMessage({ type: "playhead", t: video.currentTime });
    if (!playing && video.currentTime > 0 && !video.paused) {
      playing = true;
      onState("playing");
    }
  }, CHECK_MS);

  const stop = () => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    abort.abort();
    if (worker) {
      worker.postMessage({ type: "stop" });
      const w = worker;
      setTimeout(() => w.terminate(), 1000); // after it cancelled the fetch
    }
    video.removeAttribute("src");
    video.srcObject = null;
  };
  return { video, stop };
}

/**
 * Give a page-side MediaSource to the <video>: as srcObject where the browser takes one
 * (Safari), else as a blob: URL.
 * @param {HTMLVideoElement} video
 * @param {MediaSource} ms
 */
function attachOnPage(video, ms) {
  try {
    video.srcObject = /** @type {any} */ (ms);
    if (video.srcObject === /** @type {any} */ (ms)) return;
  } catch {
    // this browser takes only a MediaStream there
  }
  video.src = URL.createObjectURL(ms);
}
