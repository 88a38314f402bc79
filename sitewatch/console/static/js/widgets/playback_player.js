// @ts-check
// Recorded video of one camera from any moment: the console's playback windows (one MP4 per
// PLAYBACK_WINDOW_S, cut at the edge, cached at the console, served with range requests),
// played natively by the <video> (every browser, iPhones too) at 1×, 2× or 4×; the next
// window is asked for before this one ends, and follows it.

import { api, ApiError } from "../core/api.js";
import { toSeconds } from "./timeline.js";

/** Ask for the next window when this little is left to play of the current one, s. */
const AHEAD_S = 10;

/**
 * @typedef {import("../core/types.js").PlaybackWindow} PlaybackWindow
 * @typedef {{state: "loading" | "playing" | "error" | "ended", error?: unknown}} PlaybackState
 */

/**
 * A playback <video> for one camera and stream. `onTime` hears the wall clock (Unix seconds)
 * of the frame shown; `onState` how loading goes. The <video>'s data-wall holds that time,
 * data-start the wall clock of its currentTime 0 and data-window the window's start (tests).
 * @param {{site: string, camera: string, stream: string,
 *   onTime: (at: number) => void, onState: (s: PlaybackState) => void}} options
 */
export function playbackPlayer({ site, camera, stream, onTime, onState }) {
  const video = document.createElement("video");
  Object.assign(video, { controls: true, muted: true, playsInline: true, preload: "auto" });
  video.setAttribute("playsinline", "");
  video.dataset.mode = "playback";
  /** @type {PlaybackWindow | null} */
  let current = null;
  /** @type {Promise<PlaybackWindow | null> | null} */
  let next = null;
  let rate = 1;
  let generation = 0;
  const path = `/api/video/playback/${encodeURIComponent(site)}/${encodeURIComponent(camera)}`;

  /** @param {number} at Unix seconds */
  const fetchWindow = async (at) => {
    /** @type {PlaybackWindow} */
    const w = await api(path, { params: { at: at.toFixed(3), stream } });
    return { ...w, start: toSeconds(w.start), end: toSeconds(w.end), window_start: toSeconds(w.window_start), window_end: toSeconds(w.window_end) };
  };

  /**
   * Play `w` from wall clock `at`.
   * @param {PlaybackWindow} w
   * @param {number} at
   */
  const show = (w, at) => {
    current = w;
    next = null;
    video.dataset.window = String(w.window_start);
    video.dataset.start = String(w.start); // the wall clock of currentTime 0
    const offset = Math.max(0, at - w.start);
    const begin = () => {
      video.currentTime = Math.min(offset, Math.max(0, (video.duration || offset) - 0.1));
      video.defaultPlaybackRate = rate;
      video.playbackRate = rate;
      video.play().catch(() => {}); // muted: allowed without a gesture
    };
    video.addEventListener("loadedmetadata", begin, { once: true });
    video.src = w.url;
  };

  /**
   * Show the recording at `at` (Unix seconds).
   * @param {number} at
   */
  const seek = async (at) => {
    const mine = ++generation;
    if (current && at >= current.start && at < current.end && video.readyState >= 1) {
      video.currentTime = at - current.start;
      video.play().catch(() => {});
      return;
    }
    onState({ state: "loading" });
    try {
      const w = await fetchWindow(at);
      if (mine === generation) show(w, at);
    } catch (err) {
      if (mine === generation) onState({ state: "error", error: err });
    }
  };

  video.addEventListener("playing", () => onState({ state: "playing" }));
  video.addEventListener("timeupdate", () => {
    if (!current) return;
    const wall = current.start + video.currentTime;
    video.dataset.wall = wall.toFixed(3);
    onTime(wall);
    const left = (video.duration || 0) - video.currentTime;
    if (!next && Number.isFinite(left) && left < AHEAD_S * rate) {
      next = fetchWindow(current.window_end + 0.001).catch((err) => {
        if (!(err instanceof ApiError && err.code.endsWith("not_recorded"))) console.warn("next playback window", err);
        return null;
      });
    }
  });
  video.addEventListener("ended", async () => {
    const mine = generation;
    const following = await (next || Promise.resolve(null));
    if (mine !== generation) return;
    if (following) show(following, following.start);
    else onState({ state: "ended" });
  });

  return {
    video,
    seek,
    /** @param {number} r 1, 2 or 4 */
    setRate: (r) => {
      rate = r;
      video.defaultPlaybackRate = r;
      video.playbackRate = r;
    },
    /** The wall clock of the frame shown, Unix seconds (NaN before the first window). */
    wall: () => (current ? current.start + video.currentTime : NaN),
    stop: () => {
      generation += 1;
      video.pause();
      video.removeAttribute("src");
      video.load();
    },
  };
}
