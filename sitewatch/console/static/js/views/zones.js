// @ts-check
// Zone editor (config.write): the camera's latest snapshot as backdrop, its zones drawn and
// edited on a ZoneCanvas (zone_canvas.js), the selected zone's id / name / kind (zone_panel.js),
// the rules' thresholds (rule_thresholds.js). Save sends the change to the edge against the
// version it was made on; the page shows "pending", then the edge's answer: applied (with the
// new version) or refused (with its reason).

import { api, errorText } from "../core/api.js";
import { fill, h } from "../core/dom.js";
import { t } from "../core/i18n.js";
import { cameraList } from "../widgets/filters.js";
import { ConfigTracker } from "../widgets/config_tracker.js";
import { ZoneCanvas } from "../widgets/zone_canvas.js";
import { ZonePanel } from "../widgets/zone_panel.js";
import { changedRules, thresholdForms } from "../widgets/rule_thresholds.js";
import { ID_PATTERN } from "../generated/enums.js";

/** @typedef {import("../core/types.js").Ctx} Ctx */
/** @typedef {import("../core/types.js").Zone} Zone */
/** @typedef {import("../core/types.js").CameraConfig} CameraConfig */
/** @typedef {import("../core/types.js").ConfigRequest} ConfigRequest */
/** @typedef {import("../core/types.js").RuleThresholds} RuleThresholds */

const ID_RE = new RegExp(ID_PATTERN);

/**
 * No camera chosen: the list of cameras to edit the zones of.
 * @param {HTMLElement} root
 * @param {Ctx} ctx
 */
function pickCamera(root, ctx) {
  const body = h("div", {}, h("p", { class: "muted", text: t("app.loading") }));
  fill(root, h("h1", { text: t("zones.title") }), h("p", { text: t("zones.pick") }), body);
  cameraList(ctx).then((cams) => {
    if (!cams.length) {
      fill(body, h("p", { class: "empty", text: t("camera.none") }));
      return;
    }
    fill(
      body,
      h(
        "ul",
        { class: "pick-list" },
        cams.map((c) => h("li", {}, h("a", { href: `#/zones/${encodeURIComponent(c.site_id)}/${encodeURIComponent(c.camera_id)}`, text: `${c.site_id} / ${c.name || c.camera_id}` }))),
      ),
    );
  });
}

/**
 * Problems that would make the edge refuse the zones, in the user's language.
 * @param {Zone[]} zones
 */
export function problems(zones) {
  /** @type {string[]} */
  const out = [];
  const seen = new Set();
  zones.forEach((z, i) => {
    const name = z.id || `#${i + 1}`;
    if (!ID_RE.test(z.id)) out.push(t("zones.bad_id", { zone: name }));
    if (seen.has(z.id)) out.push(t("zones.dup_id", { zone: name }));
    seen.add(z.id);
    if (z.points.length < 3) out.push(t("zones.few_points", { zone: name, n: z.points.length }));
  });
  return out;
}

/**
 * One camera's editor. State: the config as the edge last reported it (`config`, its
 * `baseVersion`), the zones being edited (`model`, shared with the canvas and the panel) and the
 * thresholds (`rules`); `saved`: the edits as loaded, applied or sent (see edits()); `dirty`:
 * edited since (a camera event then reloads nothing); `typing`: a field typed in whose "change"
 * (on leaving it) has not come yet.
 */
class ZoneEditor {
  /**
   * @param {HTMLElement} root
   * @param {Ctx} ctx
   * @param {string} site
   * @param {string} camera
   */
  constructor(root, ctx, site, camera) {
    this.base = `/api/cameras/${encodeURIComponent(site)}/${encodeURIComponent(camera)}`;
    /** @type {CameraConfig | null} */
    this.config = null;
    /** @type {string | null} */
    this.baseVersion = null;
    /** @type {RuleThresholds} */
    this.rules = {};
    this.dirty = false;
    this.saved = "";
    this.typing = false;
    /** @type {import("../widgets/zone_canvas.js").ZoneModel} */
    this.model = { zones: [], sel: -1, pt: -1, drawing: false };
    this.canvas = new ZoneCanvas(this.model, (kind) => (kind === "edit" ? this.touch() : this.draw()), t("zones.canvas_label"));
    this.panel = new ZonePanel(this.model, { select: () => this.draw(), edit: () => this.touch() });
    this.status = h("p", { id: "config-status", class: "config-status", role: "status", "aria-live": "polite" });
    this.errors = h("ul", { class: "error", id: "zone-errors", role: "alert" });
    this.rulesBox = h("div", { class: "rules" });
    this.saveButton = h("button", { type: "button", class: "primary", id: "zone-save", text: t("zones.save") });
    this.discardButton = h("button", { type: "button", id: "zone-discard", text: t("zones.discard") });
    this.version = h("p", { class: "muted small", id: "zone-version" });
    this.tracker = new ConfigTracker(ctx, this.status, (req) => this.answered(req));
    this.layout(root, site, camera);
    this.saveButton.addEventListener("click", () => this.save());
    this.discardButton.addEventListener("click", () => this.config && this.adopt(this.config));
  }

  /**
   * The page: the snapshot with the canvas over it, the panel, thresholds, buttons, status.
   * @param {HTMLElement} root
   * @param {string} site
   * @param {string} camera
   */
  layout(root, site, camera) {
    const img = h("img", { class: "backdrop", alt: t("zones.backdrop_alt", { camera }), src: `${this.base}/snapshot?t=${Date.now()}` });
    const noSnap = h("p", { class: "placeholder over", hidden: true, text: t("zones.no_snapshot") });
    const stage = h("div", { class: "stage" }, img, this.canvas.svg, noSnap);
    /**
     * @param {number} w picture width, px
     * @param {number} hgt picture height, px
     */
    const shape = (w, hgt) => {
      stage.style.aspectRatio = `${w} / ${hgt}`;
      stage.style.setProperty("--aspect", String(w / hgt));
      this.canvas.setSize(w, hgt);
    };
    shape(1600, 900);
    img.addEventListener("load", () => {
      shape(img.naturalWidth || 1600, img.naturalHeight || 900);
      noSnap.hidden = true;
    });
    img.addEventListener("error", () => {
      img.hidden = true;
      noSnap.hidden = false;
    });
    const panel = h("div", { class: "zone-panel" }, this.panel.el, this.rulesBox, this.errors, h("div", { class: "buttons" }, this.saveButton, this.discardButton), this.status);
    const editor = h("div", { class: "zone-editor" }, h("div", { class: "stage-wrap" }, stage, h("p", { class: "muted small", text: t("zones.help") })), panel);
    editor.addEventListener("input", () => {
      this.typing = true;
    });
    editor.addEventListener("change", () => {
      this.typing = false;
    });
    fill(
      root,
      h("div", { class: "detail-head" }, h("a", { href: "#/zones", class: "back", text: `← ${t("zones.all_cameras")}` }), h("h1", { text: t("zones.title_camera", { site, camera }) })),
      this.version,
      editor,
    );
  }

  draw() {
    this.canvas.draw();
    this.panel.paint();
  }

  /** The zones changed: an unsaved edit; the old problems no longer hold. */
  touch() {
    this.dirty = true;
    fill(this.errors);
    this.draw();
  }

  /** What a save would send, as text: compared with `saved` to tell unsaved edits. */
  edits() {
    return JSON.stringify([this.model.zones.map((z) => [z.id, z.name, z.kind, z.points]), this.rules]);
  }

  /** The message for leaving with edits not yet sent, or false. */
  unsaved() {
    return Boolean(this.config && (this.typing || this.edits() !== this.saved)) && t("zones.unsaved");
  }

  paintRules() {
    fill(
      this.rulesBox,
      thresholdForms(this.rules, () => {
        this.dirty = true;
      }),
    );
  }

  paintVersion() {
    this.version.textContent = this.baseVersion ? t("zones.version", { version: this.baseVersion }) : t("zones.no_version");
    this.saveButton.disabled = !this.baseVersion || this.tracker.pending;
  }

  /**
   * Edit `c` from now on: the edge's config, as loaded (or the last one again: discard).
   * @param {CameraConfig} c
   */
  adopt(c) {
    this.config = c;
    this.baseVersion = c.version;
    this.model.zones = structuredClone(c.zones).map((z) => ({ ...z, name: z.name || "" }));
    this.rules = structuredClone(c.rules || {});
    this.model.sel = this.model.zones.length ? 0 : -1;
    this.model.pt = -1;
    this.model.drawing = false;
    this.dirty = false;
    this.saved = this.edits();
    this.typing = false;
    fill(this.errors);
    this.draw();
    this.paintRules();
    this.paintVersion();
  }

  /**
   * The edge answered a change: applied, its zones and thresholds are the config now.
   * @param {ConfigRequest} req
   */
  answered(req) {
    if (req.status === "applied" && this.config) {
      this.baseVersion = req.version;
      this.config = { ...this.config, version: req.version, zones: structuredClone(this.model.zones), rules: structuredClone(this.rules) };
      this.saved = this.edits();
      this.dirty = false;
      this.paintVersion();
    }
    this.saveButton.disabled = false;
  }

  async load() {
    try {
      /** @type {CameraConfig} */
      const c = await api(`${this.base}/config`);
      this.adopt(c);
      if (c.pending) this.tracker.follow(c.pending);
    } catch (err) {
      fill(this.errors, h("li", { text: t("zones.load_failed", { detail: errorText(err) }) }));
      this.saveButton.disabled = true;
    }
  }

  /** Send the zones and the changed thresholds against the version they were made on. */
  async save() {
    const found = problems(this.model.zones);
    if (found.length) {
      fill(this.errors, found.map((p) => h("li", { text: p })));
      return;
    }
    fill(this.errors);
    this.saveButton.disabled = true;
    try {
      const sending = this.edits();
      const zones = this.model.zones.map((z) => ({ id: z.id, name: z.name, kind: z.kind, points: z.points }));
      const rules = changedRules(this.rules, (this.config && this.config.rules) || {});
      /** @type {ConfigRequest} */
      const req = await api(`${this.base}/config`, { method: "POST", body: { base_version: this.baseVersion, zones, rules } });
      this.saved = sending; // sent: the edge's answer shows here, or in the editor again later
      this.tracker.follow(req);
    } catch (err) {
      fill(this.errors, h("li", { text: t("zones.save_failed", { detail: errorText(err) }) }));
      this.saveButton.disabled = false;
    }
  }
}

/** @type {import("../core/types.js").Mount} */
export function mount(root, ctx, parts) {
  const [site, camera] = parts;
  if (!site || !camera) {
    pickCamera(root, ctx);
    return;
  }
  const editor = new ZoneEditor(root, ctx, site, camera);
  // leaving the page (navigation, language, logout, closing the tab) would drop unsent edits
  ctx.guard(() => editor.unsaved());
  const offCamera = ctx.live.on("camera", (c) => {
    const mine = c.site_id === site && c.camera_id === camera;
    if (mine && !editor.dirty && !editor.tracker.pending && c.config_version && c.config_version !== editor.baseVersion) editor.load();
  });
  editor.draw();
  editor.load();
  editor.status.dataset.status = "idle";
  return () => {
    offCamera();
    editor.tracker.stop();
  };
}
