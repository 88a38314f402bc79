// @ts-check
// Live view and playback. "#/live[/{site}]": a site's cameras playing live (views/live_grid.js).
// "#/live/{site}/{camera}[?at=<unix s>&stream=record]": one camera: the live player, its
// recording timeline (spans, alert and incident markers, a scrubber), playback of the picked
// moment at 1×, 2× or 4×, and the export of a chosen range. Viewing is audited at the console.

import { api, errorText } from "../core/api.js";
import { fill, h } from "../core/dom.js";
import { fmtBytes, fmtTime, siteZone, t, tv, tzLabel } from "../core/i18n.js";
import { playbackPlayer } from "../widgets/playback_player.js";
import { timeline, toSeconds } from "../widgets/timeline.js";
import { videoExport } from "../widgets/video_export.js";
import { faultOf, faultText } from "../widgets/video_errors.js";
import { livePlayer } from "../widgets/video_player.js";
import { mountGrid } from "../widgets/live_grid.js";

/** @typedef {import("../core/types.js").VideoCamera} VideoCamera */
/** @typedef {import("../core/types.js").LiveInfo} LiveInfo */

const SPANS = [3600, 6 * 3600, 24 * 3600, 7 * 24 * 3600];
const RATES = [1, 2, 4];
const INFO_MS = 5000;
const TIMELINE_MS = 60000;
/** Where live falls back to without MSE: this long ago is surely recorded and uploadable, s. */
const RECENT_S = 75;

/** @type {import("../core/types.js").Mount} */
export function mount(root, ctx, parts, params) {
  if (parts.length < 2) return mountGrid(root, ctx, parts, params);
  const site = /** @type {string} */ (parts[0]);
  const camera = /** @type {string} */ (parts[1]);
  const zone = siteZone(ctx, site);
  const base = `${encodeURIComponent(site)}/${encodeURIComponent(camera)}`;
  let stream = params.get("stream") === "record" ? "record" : "detect";
  let span = SPANS.includes(Number(params.get("span"))) ? Number(params.get("span")) : 24 * 3600;
  /** @type {VideoCamera | undefined} */
  let cam;
  /** @type {"live" | "playback"} */
  let mode = "live";
  /** @type {(() => void) | null} */
  let stopLive = null;
  /** @type {ReturnType<typeof playbackPlayer> | null} */
  let playback = null;
  /** @type {ReturnType<typeof timeline> | null} */
  let line = null;
  let gone = false;

  const title = h("h1", { text: camera });
  const status = h("p", { id: "video-status", class: "video-note", role: "status", dataset: { state: "loading" } });
  const stage = h("div", { id: "video-stage", class: "video-stage video-frame" });
  const wall = h("p", { id: "video-wall", class: "video-wall small" });
  const info = h("p", { id: "live-info", class: "muted small" });
  const liveButton = h("button", { type: "button", id: "video-live", text: t("video.live") });
  const rateButtons = RATES.map((r) => h("button", { type: "button", class: "rate", id: `rate-${r}`, dataset: { rate: String(r) }, "aria-pressed": String(r === 1), text: `${r}×` }));
  const streamPick = h("select", { id: "video-stream", "aria-label": t("video.stream") });
  const spanButtons = SPANS.map((s) => h("button", { type: "button", class: "link span", dataset: { span: String(s) }, "aria-pressed": String(s === span), text: t(`video.span_${s}`) }));
  const lineBox = h("div", { id: "timeline-box" });
  const lineError = h("p", { class: "error small", role: "alert" });

  /**
   * @param {string} state loading | connecting | playing | error | ended | unsupported
   * @param {string} [text]
   */
  const say = (state, text = "") => {
    status.dataset.state = state;
    status.dataset.mode = mode;
    status.textContent = text;
  };

  const goLive = () => {
    if (gone) return;
    if (playback) playback.stop();
    mode = "live";
    liveButton.setAttribute("aria-pressed", "true");
    rateButtons.forEach((b) => (b.disabled = true));
    if (stopLive) stopLive();
    const player = livePlayer(`/api/video/live/${base}?stream=${stream}`, (state, answer, why) => {
      if (state === "playing") say("playing", t("video.playing_live"));
      else if (state === "connecting") say("connecting", t("video.connecting"));
      else if (state === "ended") say("ended", t("video.live_ended"));
      else if (state === "unsupported") {
        // no MSE (iPhones before iOS 17.1): the newest recorded minute, played natively
        say("unsupported", t("video.err_unsupported"));
        goPlayback(Date.now() / 1000 - RECENT_S);
      }
      else say("error", answer ? faultText(faultOf(answer), cam) : t("video.live_broken", { detail: why || "—" }));
    });
    stopLive = player.stop;
    fill(stage, player.video);
    wall.textContent = "";
    say("connecting", t("video.connecting"));
  };

  /** @param {number} at Unix seconds */
  const goPlayback = (at) => {
    if (gone) return;
    if (stopLive) stopLive();
    stopLive = null;
    mode = "playback";
    info.textContent = ""; // the live session's viewers and upstream: not this video's
    liveButton.setAttribute("aria-pressed", "false");
    rateButtons.forEach((b) => (b.disabled = false));
    if (!playback) {
      playback = playbackPlayer({
        site,
        camera,
        stream,
        onTime: (s) => {
          wall.textContent = t("video.showing", { at: fmtTime(new Date(s * 1000).toISOString(), zone), zone: tzLabel(zone) });
          wall.dataset.at = s.toFixed(3);
          if (line) line.mark(s);
        },
        onState: (s) => {
          if (s.state === "error") say("error", faultText(faultOf(s.error), cam));
          else if (s.state === "ended") say("ended", t("video.playback_ended"));
          else say(s.state, s.state === "loading" ? t("video.loading") : t("video.playing_recording"));
        },
      });
    }
    if (stage.firstChild !== playback.video) fill(stage, playback.video);
    if (line) line.mark(at);
    playback.seek(at);
  };

  const loadTimeline = async () => {
    const to = Date.now() / 1000;
    const from = to - span;
    try {
      const data = await api(`/api/video/timeline/${base}`, { params: { from: from.toFixed(0), to: to.toFixed(0), stream } });
      if (gone) return;
      const at = playback && mode === "playback" ? playback.wall() : undefined;
      line = timeline({ from, to, data, zone, onPick: goPlayback, at: Number.isFinite(at) ? at : undefined });
      fill(lineBox, line.el);
      lineError.textContent = data.edge && data.edge.state === "offline" ? faultText({ code: "edge_offline", status: 0, params: { since: data.edge.since }, detail: "" }, cam) : "";
    } catch (err) {
      lineError.textContent = t("video.timeline_failed", { detail: faultText(faultOf(err), cam) });
    }
  };

  const pollInfo = async () => {
    if (mode !== "live" || gone) return;
    try {
      /** @type {LiveInfo} */
      const i = await api(`/api/video/live/${base}/info`, { params: { stream } });
      info.dataset.viewers = String(i.viewers);
      info.dataset.upstream = String(i.upstream_bytes);
      info.textContent = t("video.live_info", { viewers: i.viewers, upstream: fmtBytes(i.upstream_bytes) });
    } catch {
      info.textContent = ""; // no session yet, or it ended: the status line says why
    }
  };

  liveButton.addEventListener("click", goLive);
  for (const b of rateButtons) {
    b.addEventListener("click", () => {
      rateButtons.forEach((x) => x.setAttribute("aria-pressed", String(x === b)));
      if (playback) playback.setRate(Number(b.dataset.rate));
    });
  }
  for (const b of spanButtons) {
    b.addEventListener("click", () => {
      span = Number(b.dataset.span);
      spanButtons.forEach((x) => x.setAttribute("aria-pressed", String(x === b)));
      loadTimeline();
    });
  }
  streamPick.addEventListener("change", () => {
    const q = new URLSearchParams({ stream: streamPick.value });
    ctx.navigate(`#/live/${base}?${q}`);
  });

  const exportBox = ctx.can("evidence.export")
    ? videoExport({ site, camera, stream, zone, position: () => (playback && mode === "playback" ? playback.wall() : NaN), alertId: params.get("alert") || undefined, onHeld: () => loadTimeline() })
    : null;

  fill(
    root,
    h("p", { class: "small" }, h("a", { href: `#/live/${encodeURIComponent(site)}`, text: t("video.back_to_grid") })),
    title,
    status,
    h("div", { class: "video-main" }, stage, wall, h("div", { class: "video-tools" }, liveButton, h("span", { class: "rates", role: "group", "aria-label": t("video.rate") }, rateButtons), streamPick), info),
    h("section", { class: "video-timeline panel", "aria-labelledby": "timeline-title" }, h("h2", { id: "timeline-title", text: t("video.timeline_title") }), h("p", { class: "spans", role: "group", "aria-label": t("video.span") }, spanButtons), lineError, lineBox),
    exportBox && exportBox.el,
  );
  root.dataset.camera = `${site}/${camera}`;

  api("/api/video/cameras").then(
    (/** @type {VideoCamera[]} */ cams) => {
      if (gone) return;
      cam = cams.find((c) => c.site_id === site && c.camera_id === camera);
      if (!cam) {
        say("error", t("video.camera_unknown", { camera, site }));
        return;
      }
      fill(title, cam.name || camera, " ", h("span", { class: "muted small", text: `${cam.site_name || site} · ${tv("camera_state", cam.state)}` }));
      if (!params.has("span")) {
        // a recording younger than the 24-h view: the shortest view that shows all of it
        const first = toSeconds(cam.recorded[stream]?.first ?? null);
        const age = Date.now() / 1000 - first;
        const fits = SPANS.find((s) => s >= age);
        if (Number.isFinite(age) && fits !== undefined && fits < span) span = fits;
        spanButtons.forEach((x) => x.setAttribute("aria-pressed", String(Number(x.dataset.span) === span)));
      }
      fill(streamPick, (cam.streams.length ? cam.streams : ["detect"]).map((s) => h("option", { value: s, selected: s === stream, text: tv("video.stream_name", s) })));
      const at = Number(params.get("at"));
      if (params.has("at") && Number.isFinite(at)) goPlayback(at);
      else goLive();
      loadTimeline();
    },
    (err) => say("error", t("video.load_failed", { detail: errorText(err) })),
  );
  // a hidden tab (a phone in a pocket) stops the live stream; shown again, it is live again
  const onVisibility = () => {
    if (mode !== "live" || !cam) return;
    if (document.visibilityState === "hidden" && stopLive) {
      stopLive();
      stopLive = null;
    } else if (document.visibilityState === "visible" && !stopLive) goLive();
  };
  document.addEventListener("visibilitychange", onVisibility);
  const infoTimer = setInterval(pollInfo, INFO_MS);
  const lineTimer = setInterval(loadTimeline, TIMELINE_MS);
  return () => {
    gone = true;
    document.removeEventListener("visibilitychange", onVisibility);
    clearInterval(infoTimer);
    clearInterval(lineTimer);
    if (stopLive) stopLive();
    if (playback) playback.stop();
    if (exportBox) exportBox.stop();
  };
}
