// @ts-check
// Camera editor (config.write): #/camera/<site> adds a camera, #/camera/<site>/<camera> edits
// its name, streams, detect fps, input size and head, coarse and tile looks, or removes it. The change goes to the edge
// against the config version shown (the site's for a new camera, the camera's otherwise); the
// page shows "pending", then the edge's answer. Stream passwords come back masked (***): a URL
// left as it is keeps the edge's password.

import { api, errorText } from "../core/api.js";
import { fill, h } from "../core/dom.js";
import { t } from "../core/i18n.js";
import { ConfigTracker } from "../widgets/config_tracker.js";
import { cameraRegressBanner } from "../widgets/config_regress.js";

/** @typedef {import("../core/types.js").Camera} Camera */
/** @typedef {import("../core/types.js").Ctx} Ctx */

/**
 * A labelled input with a hint below.
 * @param {string} id
 * @param {string} label
 * @param {string} hint
 * @param {Record<string, string | number | boolean>} props
 */
function field(id, label, hint, props) {
  const input = h("input", { id, name: id, ...props });
  const row = h("div", { class: "field" }, h("label", { for: id, text: label }), input, hint ? h("p", { class: "muted small", text: hint }) : null);
  return { row, input };
}

/**
 * A look's three choices: the detector's setting (null), on (true), off (false).
 * @param {string} id
 * @param {string} label
 * @param {string} hint
 */
function lookField(id, label, hint) {
  const input = h("select", { id, name: id },
    h("option", { value: "", text: t("cameraedit.look_default") }),
    h("option", { value: "on", text: t("cameraedit.look_on") }),
    h("option", { value: "off", text: t("cameraedit.look_off") }));
  const row = h("div", { class: "field" }, h("label", { for: id, text: label }), input, h("p", { class: "muted small", text: hint }));
  return {
    row,
    input,
    /** @param {boolean | null | undefined} on */
    set(on) { input.value = on == null ? "" : on ? "on" : "off"; },
    /** @returns {boolean | null} */
    get() { return input.value === "" ? null : input.value === "on"; },
  };
}

/** @param {string} value an input's text; empty: null (the edge's default) */
function orNull(value) {
  const v = value.trim();
  return v === "" ? null : v;
}

/** @type {import("../core/types.js").Mount} */
export function mount(root, ctx, parts) {
  const [siteId = "", cameraId] = parts;
  const adding = !cameraId;
  const error = h("p", { class: "error", role: "alert", id: "camera-error" });
  const status = h("p", { class: "config-status", role: "status", id: "camera-status" });
  const banner = h("div", {});
  const version = h("span", { id: "camera-version" });
  const id = field("camera-id", t("cameraedit.id"), t("cameraedit.id_hint"), { required: true, autocomplete: "off", spellcheck: false });
  const name = field("camera-name", t("cameraedit.name"), "", { maxlength: 200 });
  const detect = field("camera-detect", t("cameraedit.detect"), t("cameraedit.detect_hint"), { required: true, autocomplete: "off", spellcheck: false });
  const record = field("camera-record", t("cameraedit.record"), t("cameraedit.record_hint"), { autocomplete: "off", spellcheck: false });
  const fps = field("camera-fps", t("cameraedit.fps"), t("cameraedit.fps_hint"), { type: "number", min: 0.1, max: 30, step: 0.1 });
  const size = field("camera-input-size", t("cameraedit.input_size"), t("cameraedit.input_size_hint"), { type: "number", min: 160, max: 1280, step: 32 });
  const headLook = lookField("camera-head-look", t("cameraedit.head_look"), t("cameraedit.head_look_hint"));
  const coarseLook = lookField("camera-coarse-look", t("cameraedit.coarse_look"), t("cameraedit.coarse_look_hint"));
  const tileLook = lookField("camera-tile-look", t("cameraedit.tile_look"), t("cameraedit.tile_look_hint"));
  const save = h("button", { type: "submit", id: "camera-save", text: adding ? t("cameraedit.add") : t("cameraedit.save") });
  const remove = adding ? null : h("button", { type: "button", id: "camera-remove", class: "danger", text: t("cameraedit.remove") });
  const form = h("form", { class: "camera-form", novalidate: true }, adding ? id.row : null, name.row, detect.row, record.row, fps.row, size.row, headLook.row, coarseLook.row, tileLook.row, h("div", { class: "actions" }, save, remove));
  const title = adding ? t("cameraedit.title_add", { site: siteId }) : t("cameraedit.title_edit", { camera: cameraId });
  fill(root, h("h1", { text: title }), banner, h("p", { class: "muted" }, t("cameraedit.version"), " ", version), error, form, status, h("p", {}, h("a", { href: "#/cameras", text: t("cameraedit.back") })));

  /** @type {string | null} the config version the form is made against */
  let base = null;
  const tracker = new ConfigTracker(ctx, status, (req) => {
    save.disabled = false;
    if (remove) remove.disabled = false;
    if (req.status === "applied") base = req.version;
    version.textContent = base || "—";
  });

  const load = async () => {
    try {
      if (adding) {
        await ctx.refreshSites();
        base = ctx.sites.find((s) => s.id === siteId)?.config_version || null;
        if (!base) error.textContent = t("cameraedit.no_version", { site: siteId });
      } else {
        /** @type {Camera[]} */
        const cams = await api("/api/cameras", { params: { site: siteId } });
        const c = cams.find((x) => x.camera_id === cameraId);
        if (!c) {
          error.textContent = t("cameraedit.gone", { camera: cameraId || "" });
          return;
        }
        base = c.config_version;
        fill(banner, cameraRegressBanner(c, ctx));
        const s = c.settings;
        name.input.value = s ? s.name : c.name;
        detect.input.value = s ? s.detect : "";
        record.input.value = (s && s.record) || "";
        fps.input.value = s && s.detect_fps != null ? String(s.detect_fps) : "";
        size.input.value = s && s.input_size != null ? String(s.input_size) : "";
        headLook.set(s && s.head_look);
        coarseLook.set(s && s.coarse_look);
        tileLook.set(s && s.tile_look);
      }
      version.textContent = base || "—";
    } catch (err) {
      error.textContent = t("cameraedit.load_failed", { detail: errorText(err) });
    }
  };

  /**
   * @param {"add" | "edit" | "remove"} action what the request does (data-action on the status)
   * @param {Promise<any>} sending
   */
  const send = async (action, sending) => {
    error.textContent = "";
    save.disabled = true;
    if (remove) remove.disabled = true;
    try {
      const request = await sending;
      status.dataset.action = action;
      tracker.follow(request);
    } catch (err) {
      error.textContent = t("cameraedit.save_failed", { detail: errorText(err) });
      save.disabled = false;
      if (remove) remove.disabled = false;
    }
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const fpsValue = orNull(fps.input.value);
    const sizeValue = orNull(size.input.value);
    const body = {
      base_version: base || "",
      name: name.input.value.trim(),
      detect: detect.input.value.trim(),
      record: orNull(record.input.value),
      detect_fps: fpsValue === null ? null : Number(fpsValue),
      input_size: sizeValue === null ? null : Number(sizeValue),
      head_look: headLook.get(),
      coarse_look: coarseLook.get(),
      tile_look: tileLook.get(),
    };
    const path = `/api/sites/${encodeURIComponent(siteId)}/cameras`;
    if (adding) send("add", api(path, { method: "POST", body: { ...body, camera_id: id.input.value.trim() } }));
    else send("edit", api(`${path}/${encodeURIComponent(cameraId || "")}`, { method: "PATCH", body }));
  });
  remove?.addEventListener("click", () => {
    if (!window.confirm(t("cameraedit.remove_confirm", { camera: cameraId || "" }))) return;
    const path = `/api/sites/${encodeURIComponent(siteId)}/cameras/${encodeURIComponent(cameraId || "")}`;
    send("remove", api(path, { method: "DELETE", params: { base_version: base || "" } }));
  });

  load();
  return () => tracker.stop();
}
