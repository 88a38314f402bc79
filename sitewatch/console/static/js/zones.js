// Zone editor (config.write): the camera's latest snapshot as backdrop, its zones drawn and
// edited on a ZoneCanvas (zone_canvas.js), the selected zone's id / name / kind, the rules'
// thresholds. Save sends the change to the edge against the version it was made on; the page
// shows "pending", then the edge's answer: applied (with the new version) or refused (with
// its reason).

import { api } from "./api.js";
import { fill, h } from "./dom.js";
import { t, tv } from "./i18n.js";
import { cameraList } from "./filters.js";
import { ConfigTracker } from "./zones_track.js";
import { ZoneCanvas, addZone, deletePoint } from "./zone_canvas.js";
import { ID_PATTERN, ZONE_KINDS as KINDS } from "./generated/enums.js";

const THRESHOLDS = ["enabled", "min_score", "dwell_s", "cooldown_s"];
const ID_RE = new RegExp(ID_PATTERN);

function pickCamera(root, ctx) {
  const body = h("div", {}, h("p", { class: "muted", text: t("app.loading") }));
  fill(root, h("h1", { text: t("zones.title") }), h("p", { text: t("zones.pick") }), body);
  cameraList(ctx).then((cams) => {
    if (!cams.length) return fill(body, h("p", { class: "empty", text: t("camera.none") }));
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

/** Problems that would make the edge refuse the zones, in the user's language. */
export function problems(zones) {
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

export function mount(root, ctx, parts) {
  const [site, camera] = parts;
  if (!site || !camera) return pickCamera(root, ctx);
  const base = `/api/cameras/${encodeURIComponent(site)}/${encodeURIComponent(camera)}`;

  let config = null;
  let baseVersion = null;
  let rules = {};
  let dirty = false;
  let saved = ""; // the zones and thresholds as loaded, applied or sent (see edits())
  let typing = false; // a field typed in whose "change" (on leaving it) has not come yet
  const model = { zones: [], sel: -1, pt: -1, drawing: false }; // shared with the canvas

  const status = h("p", { id: "config-status", class: "config-status", role: "status", "aria-live": "polite" });
  const errors = h("ul", { class: "error", id: "zone-errors", role: "alert" });
  const img = h("img", { class: "backdrop", alt: t("zones.backdrop_alt", { camera }), src: `${base}/snapshot?t=${Date.now()}` });
  const noSnap = h("p", { class: "placeholder over", hidden: true, text: t("zones.no_snapshot") });
  const canvas = new ZoneCanvas(model, (kind) => (kind === "edit" ? touch() : draw()), t("zones.canvas_label"));
  const stage = h("div", { class: "stage" }, img, canvas.svg, noSnap);
  const shape = (w, hgt) => {
    stage.style.aspectRatio = `${w} / ${hgt}`;
    stage.style.setProperty("--aspect", String(w / hgt));
    canvas.setSize(w, hgt);
  };
  shape(1600, 900);
  const side = h("div", { class: "zone-side" });
  const rulesBox = h("div", { class: "rules" });
  const saveButton = h("button", { type: "button", class: "primary", id: "zone-save", text: t("zones.save") });
  const discardButton = h("button", { type: "button", id: "zone-discard", text: t("zones.discard") });
  const version = h("p", { class: "muted small", id: "zone-version" });

  const editor = h("div", { class: "zone-editor" }, h("div", { class: "stage-wrap" }, stage, h("p", { class: "muted small", text: t("zones.help") })), h("div", { class: "zone-panel" }, side, rulesBox, errors, h("div", { class: "buttons" }, saveButton, discardButton), status));
  fill(
    root,
    h("div", { class: "detail-head" }, h("a", { href: "#/zones", class: "back", text: `← ${t("zones.all_cameras")}` }), h("h1", { text: t("zones.title_camera", { site, camera }) })),
    version,
    editor,
  );

  img.addEventListener("load", () => {
    shape(img.naturalWidth || 1600, img.naturalHeight || 900);
    noSnap.hidden = true;
  });
  img.addEventListener("error", () => {
    img.hidden = true;
    noSnap.hidden = false;
  });

  function draw() {
    canvas.draw();
    paintSide();
  }

  function touch() {
    dirty = true;
    fill(errors);
    draw();
  }

  // ---- side panel ----
  // The list is redrawn on every change; the form only when another zone is selected, so
  // the field being edited is never removed under the cursor (its blur would fire "change"
  // while the panel is being rebuilt).
  const listBox = h("div", { class: "zone-list-box" });
  const formBox = h("div", { class: "zone-form-box" });
  side.append(listBox, formBox);
  let formZone = null;

  function paintSide() {
    const list = h(
      "ul",
      { class: "zone-list", id: "zone-list" },
      model.zones.map((z, i) =>
        h(
          "li",
          {},
          h("button", {
            type: "button",
            class: ["zone-pick", `kind-${z.kind}`, i === model.sel && "selected"],
            "aria-pressed": String(i === model.sel),
            text: `${z.id || "?"} · ${tv("kind", z.kind)} · ${t("zones.n_points", { n: z.points.length })}`,
            onclick: () => {
              model.sel = i;
              model.drawing = false;
              model.pt = -1;
              draw();
            },
          }),
        ),
      ),
    );
    const add = h("button", {
      type: "button",
      id: "zone-new",
      text: t("zones.new"),
      onclick: () => {
        addZone(model);
        touch();
      },
    });
    fill(listBox, h("h2", { text: t("zones.zones") }), model.zones.length ? list : h("p", { class: "muted", text: t("zones.none") }), add);
    const z = model.zones[model.sel] || null;
    if (z !== formZone) {
      formZone = z;
      fill(formBox, z ? zoneForm(z) : null);
    }
    if (z) {
      formBox.querySelector("legend").textContent = t("zones.selected", { zone: z.id || "?" });
      formBox.querySelector("#point-delete").disabled = model.pt < 0;
    }
  }

  function zoneForm(z) {
    const id = h("input", { id: "zone-id", value: z.id, pattern: ID_RE.source, required: true, autocomplete: "off" });
    id.addEventListener("change", () => {
      z.id = id.value.trim();
      touch();
    });
    const name = h("input", { id: "zone-name", value: z.name, maxlength: 100, autocomplete: "off" });
    name.addEventListener("change", () => {
      z.name = name.value;
      touch();
    });
    const kind = h("select", { id: "zone-kind" }, KINDS.map((k) => h("option", { value: k, selected: k === z.kind, text: tv("kind", k) })));
    kind.addEventListener("change", () => {
      z.kind = kind.value;
      touch();
    });
    return h(
      "fieldset",
      { class: "zone-form" },
      h("legend", { text: t("zones.selected", { zone: z.id || "?" }) }),
      h("div", { class: "field" }, h("label", { for: "zone-id", text: t("zones.id") }), id, h("span", { class: "muted small", text: t("zones.id_hint") })),
      h("div", { class: "field" }, h("label", { for: "zone-name", text: t("zones.name") }), name),
      h("div", { class: "field" }, h("label", { for: "zone-kind", text: t("zones.kind") }), kind),
      h(
        "div",
        { class: "buttons" },
        h("button", {
          type: "button",
          id: "point-delete",
          disabled: model.pt < 0,
          text: t("zones.delete_point"),
          onclick: () => {
            deletePoint(model);
            touch();
          },
        }),
        h("button", {
          type: "button",
          id: "zone-delete",
          class: "danger",
          text: t("zones.delete_zone"),
          onclick: () => {
            model.zones.splice(model.sel, 1);
            model.sel = -1;
            model.pt = -1;
            model.drawing = false;
            touch();
          },
        }),
      ),
    );
  }

  function paintRules() {
    const sections = Object.entries(rules).map(([rule, values]) => {
      const fields = THRESHOLDS.filter((k) => k in values).map((k) => {
        const id = `rule-${rule}-${k}`;
        if (typeof values[k] === "boolean") {
          const box = h("input", { id, type: "checkbox", checked: values[k] });
          box.addEventListener("change", () => {
            values[k] = box.checked;
            dirty = true;
          });
          return h("div", { class: "field inline" }, box, h("label", { for: id, text: t(`threshold.${k}`) }));
        }
        const limits = k === "min_score" ? { min: 0, max: 1, step: 0.01 } : k === "dwell_s" ? { min: 0, max: 600, step: 0.5 } : { min: 0, max: 86400, step: 1 };
        const input = h("input", { id, type: "number", value: values[k], ...limits });
        input.addEventListener("change", () => {
          const v = Number(input.value);
          if (input.value !== "" && Number.isFinite(v)) values[k] = v;
          dirty = true;
        });
        return h("div", { class: "field" }, h("label", { for: id, text: t(`threshold.${k}`) }), input);
      });
      return h("fieldset", { class: "rule-form" }, h("legend", { text: tv("rule", rule) }), fields);
    });
    fill(rulesBox, sections.length ? [h("h2", { text: t("zones.thresholds") }), sections] : null);
  }

  function changedRules() {
    const out = {};
    for (const [rule, values] of Object.entries(rules)) {
      const before = (config.rules || {})[rule] || {};
      for (const k of THRESHOLDS) {
        if (k in values && values[k] !== before[k]) (out[rule] ||= {})[k] = values[k];
      }
    }
    return Object.keys(out).length ? out : null;
  }

  /** What a save would send, as text: compared with `saved` to tell unsaved edits. */
  const edits = () => JSON.stringify([model.zones.map((z) => [z.id, z.name, z.kind, z.points]), rules]);
  // leaving the page (navigation, language, logout, closing the tab) would drop unsent edits
  ctx.guard(() => config && (typing || edits() !== saved) && t("zones.unsaved"));
  editor.addEventListener("input", () => {
    typing = true;
  });
  editor.addEventListener("change", () => {
    typing = false;
  });

  const tracker = new ConfigTracker(ctx, status, (req) => {
    if (req.status === "applied") {
      baseVersion = req.version;
      config = { ...config, version: req.version, zones: structuredClone(model.zones), rules: structuredClone(rules) };
      saved = edits();
      dirty = false;
      paintVersion();
    }
    saveButton.disabled = false;
  });

  function paintVersion() {
    version.textContent = baseVersion ? t("zones.version", { version: baseVersion }) : t("zones.no_version");
    saveButton.disabled = !baseVersion || tracker.pending;
  }

  function adopt(c) {
    config = c;
    baseVersion = c.version;
    model.zones = structuredClone(c.zones).map((z) => ({ ...z, name: z.name || "" }));
    rules = structuredClone(c.rules || {});
    model.sel = model.zones.length ? 0 : -1;
    model.pt = -1;
    model.drawing = false;
    dirty = false;
    saved = edits();
    typing = false;
    fill(errors);
    draw();
    paintRules();
    paintVersion();
  }

  async function load() {
    try {
      const c = await api(`${base}/config`);
      adopt(c);
      if (c.pending) tracker.follow(c.pending);
    } catch (err) {
      fill(errors, h("li", { text: t("zones.load_failed", { detail: err.message }) }));
      saveButton.disabled = true;
    }
  }

  saveButton.addEventListener("click", async () => {
    const found = problems(model.zones);
    if (found.length) {
      fill(errors, found.map((p) => h("li", { text: p })));
      return;
    }
    fill(errors);
    saveButton.disabled = true;
    try {
      const sending = edits();
      const req = await api(`${base}/config`, {
        method: "POST",
        body: { base_version: baseVersion, zones: model.zones.map((z) => ({ id: z.id, name: z.name, kind: z.kind, points: z.points })), rules: changedRules() },
      });
      saved = sending; // sent: the edge's answer shows here, or in the editor again later
      tracker.follow(req);
    } catch (err) {
      fill(errors, h("li", { text: t("zones.save_failed", { detail: err.message }) }));
      saveButton.disabled = false;
    }
  });
  discardButton.addEventListener("click", () => config && adopt(config));

  const offCamera = ctx.live.on("camera", (c) => {
    if (c.site_id === site && c.camera_id === camera && !dirty && !tracker.pending && c.config_version && c.config_version !== baseVersion) load();
  });
  draw();
  load();
  status.dataset.status = "idle";
  return () => {
    offCamera();
    tracker.stop();
  };
}

