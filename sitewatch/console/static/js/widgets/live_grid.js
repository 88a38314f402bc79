// @ts-check
// The grid of "#/live" and "#/live/{site}" (views/live.js): the cameras of one site playing
// live side by side (one column on a phone); each tile says why it does not play, and opens
// the camera's page (timeline, playback, export).

import { api, errorText } from "../core/api.js";
import { fill, h } from "../core/dom.js";
import { t, tv } from "../core/i18n.js";
import { faultOf, faultText } from "./video_errors.js";
import { livePlayer } from "./video_player.js";

/** @typedef {import("../core/types.js").VideoCamera} VideoCamera */
/** @typedef {import("../core/types.js").Ctx} Ctx */

/**
 * @param {VideoCamera} cam
 * @param {string} stream
 * @param {(() => void)[]} stops where the tile's player registers its stop
 */
function tile(cam, stream, stops) {
  const href = `#/live/${encodeURIComponent(cam.site_id)}/${encodeURIComponent(cam.camera_id)}`;
  const note = h("p", { class: "video-note small", role: "status" });
  const url = `/api/video/live/${encodeURIComponent(cam.site_id)}/${encodeURIComponent(cam.camera_id)}?stream=${encodeURIComponent(stream)}`;
  const box = h("article", { class: "live-tile", dataset: { camera: `${cam.site_id}/${cam.camera_id}`, state: "connecting" } });
  const player = livePlayer(url, (state, answer, why) => {
    box.dataset.state = state;
    if (state === "playing") note.textContent = "";
    else if (state === "connecting") note.textContent = t("video.connecting");
    else if (state === "ended") note.textContent = t("video.live_ended");
    else note.textContent = answer ? faultText(faultOf(answer), cam) : why ? t("video.live_broken", { detail: why }) : t("video.err_unsupported");
  });
  stops.push(player.stop);
  note.textContent = t("video.connecting");
  return fill(
    box,
    h("div", { class: "video-frame" }, player.video),
    h("h3", {}, h("a", { href, text: cam.name || cam.camera_id }), " ", h("span", { class: `badge cam-state state-${cam.state}`, text: tv("camera_state", cam.state) })),
    note,
  );
}

/** @type {import("../core/types.js").Mount} */
export function mountGrid(root, ctx, parts) {
  /** @type {(() => void)[]} */
  const stops = [];
  const body = h("div", { id: "live-grid", class: "live-grid" });
  const error = h("p", { class: "error", role: "alert" });
  const picker = h("select", { id: "live-site", "aria-label": t("video.site") });
  fill(root, h("h1", { text: t("video.grid_title") }), h("p", { class: "live-tools" }, picker), error, body);

  const stopAll = () => stops.splice(0).forEach((stop) => stop());

  api("/api/video/cameras").then(
    (/** @type {VideoCamera[]} */ cams) => {
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
      fill(body, mine.map((c) => tile(c, "detect", stops)));
      body.dataset.site = chosen;
    },
    (err) => {
      error.textContent = t("video.load_failed", { detail: errorText(err) });
    },
  );
  return stopAll;
}
