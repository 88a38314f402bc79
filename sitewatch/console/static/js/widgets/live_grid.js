// @ts-check
// The grid of "#/live" and "#/live/{site}" (views/live.js): the cameras of one site playing
// live side by side (one column on a phone), each only while on screen; each tile says why it
// does not play, and opens the camera's page (timeline, playback, export).

import { api, errorText } from "../core/api.js";
import { fill, h } from "../core/dom.js";
import { t, tv } from "../core/i18n.js";
import { faultOf, faultText } from "./video_errors.js";
import { livePlayer } from "./video_player.js";

/** @typedef {import("../core/types.js").VideoCamera} VideoCamera */
/** @typedef {import("../core/types.js").Ctx} Ctx */

/**
 * A camera's tile; it streams only between play() and pause() (while on screen).
 * @param {VideoCamera} cam
 * @param {string} stream
 */
function tile(cam, stream) {
  const href = `#/live/${encodeURIComponent(cam.site_id)}/${encodeURIComponent(cam.camera_id)}`;
  const note = h("p", { class: "video-note small", role: "status" });
  const url = `/api/video/live/${encodeURIComponent(cam.site_id)}/${encodeURIComponent(cam.camera_id)}?stream=${encodeURIComponent(stream)}`;
  const frame = h("div", { class: "video-frame" });
  const el = h(
    "article",
    { class: "live-tile", dataset: { camera: `${cam.site_id}/${cam.camera_id}`, state: "idle" } },
    frame,
    h("h3", {}, h("a", { href, text: cam.name || cam.camera_id }), " ", h("span", { class: `badge cam-state state-${cam.state}`, text: tv("camera_state", cam.state) })),
    note,
  );
  /** @type {(() => void) | null} */
  let stop = null;
  const play = () => {
    if (stop) return;
    const player = livePlayer(url, (state, answer, why) => {
      el.dataset.state = state;
      if (state === "playing") note.textContent = "";
      else if (state === "connecting") note.textContent = t("video.connecting");
      else if (state === "ended") note.textContent = t("video.live_ended");
      else note.textContent = answer ? faultText(faultOf(answer), cam) : why ? t("video.live_broken", { detail: why }) : t("video.err_unsupported");
    });
    stop = player.stop;
    el.dataset.state = "connecting";
    note.textContent = t("video.connecting");
    fill(frame, player.video);
  };
  const pause = () => {
    if (stop) stop();
    stop = null;
    el.dataset.state = "idle";
    note.textContent = "";
    fill(frame);
  };
  return { el, play, pause };
}

/** @type {import("../core/types.js").Mount} */
export function mountGrid(root, ctx, parts) {
  /** @type {Map<Element, ReturnType<typeof tile>>} */
  const tiles = new Map();
  let gone = false;
  // only the tiles on screen stream (a phone shows one or two of a site's cameras at a time);
  // one scrolled back within 30 s finds its upstream still open at the console
  const seen = new IntersectionObserver((entries) => {
    for (const e of entries) {
      const one = tiles.get(e.target);
      if (one && e.isIntersecting) one.play();
      else if (one) one.pause();
    }
  });
  const body = h("div", { id: "live-grid", class: "live-grid" });
  const error = h("p", { class: "error", role: "alert" });
  const picker = h("select", { id: "live-site", "aria-label": t("video.site") });
  fill(root, h("h1", { text: t("video.grid_title") }), h("p", { class: "live-tools" }, picker), error, body);

  api("/api/video/cameras").then(
    (/** @type {VideoCamera[]} */ cams) => {
      if (gone) return;
      const sites = [...new Set(cams.map((c) => c.site_id))].sort();
      if (!sites.length) {
        fill(body, h("p", { class: "empty", text: t("video.no_cameras") }));
        picker.hidden = true;
        return;
      }
      const chosen = parts[0] && sites.includes(parts[0]) ? parts[0] : /** @type {string} */ (sites[0]);
      fill(picker, sites.map((id) => h("option", { value: id, selected: id === chosen, text: cams.find((c) => c.site_id === id)?.site_name || id })));
      picker.hidden = sites.length < 2;
      picker.addEventListener("change", () => ctx.navigate(`#/live/${encodeURIComponent(picker.value)}`));
      const mine = cams.filter((c) => c.site_id === chosen).sort((a, b) => a.camera_id.localeCompare(b.camera_id));
      for (const c of mine) {
        const one = tile(c, "detect");
        tiles.set(one.el, one);
      }
      fill(body, [...tiles.keys()]);
      tiles.forEach((_, el) => seen.observe(el));
      body.dataset.site = chosen;
    },
    (err) => {
      error.textContent = t("video.load_failed", { detail: errorText(err) });
    },
  );
  // a hidden tab (a phone in a pocket) streams nothing; shown again, the observer says which
  // tiles are on screen
  const onVisibility = () => {
    seen.disconnect();
    tiles.forEach((one) => one.pause());
    if (document.visibilityState === "visible") tiles.forEach((_, el) => seen.observe(el));
  };
  document.addEventListener("visibilitychange", onVisibility);
  return () => {
    gone = true;
    document.removeEventListener("visibilitychange", onVisibility);
    seen.disconnect();
    tiles.forEach((one) => one.pause());
  };
}
