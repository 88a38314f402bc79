// @ts-check
// A live <video> of one camera: the console's fMP4 stream fed through Media Source Extensions
// (widgets/mse_feed.js), kept within a few seconds of the live edge.
//
// The MediaSource lives on the page and reaches the <video> as a blob: URL, which the
// console's CSP must allow ("media-src 'self' blob:"; Chromium refuses it otherwise, and a
// MediaSource built in a worker reaches the <video> as a blob: load too). Safari 17+ and iPhones
// from iOS 17.1 have ManagedMediaSource (iPhones have no classic MediaSource), used the same
// way; remote playback (AirPlay) is switched off, as it requires. Without either (iPhones
// before iOS 17.1) the player reports "unsupported" at once and the page offers the timeline:
// playback windows are plain MP4 over HTTP range requests, which every browser plays natively,
// so the last recorded minute is there even where live is not.

import { feed, mediaSourceClass } from "./mse_feed.js";

/** The most the play position may trail the newest buffered frame before it jumps ahead, s. */
export const MAX_LAG_S = 2.5;
/** Where a jump lands: this far behind the newest buffered frame, s. */
const LAND_S = 0.4;
/** Trailing more than this (more than a whole fragment of a 1-s GOP buffered ahead), the video
 * plays a little faster until it is back: no jump, no visible skip, s. */
const CATCH_UP_S = 1.3;
const CATCH_UP_RATE = 1.15;
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

  if (mediaSourceClass()) {
    feed(url, abort.signal, {
      answer: answered,
      attach: (ms) => attach(video, ms),
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
    video.playbackRate = end - video.currentTime > CATCH_UP_S ? CATCH_UP_RATE : 1;
    if (video.paused) video.play().catch(() => {});
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
    video.removeAttribute("src");
    video.srcObject = null;
  };
  return { video, stop };
}

/**
 * Give the MediaSource to the <video> as a blob: URL; the URL is revoked once opened (the
 * <video> keeps its source).
 * @param {HTMLVideoElement} video
 * @param {MediaSource} ms
 */
function attach(video, ms) {
  const url = URL.createObjectURL(ms);
  ms.addEventListener("sourceopen", () => URL.revokeObjectURL(url), { once: true });
  video.src = url;
}
