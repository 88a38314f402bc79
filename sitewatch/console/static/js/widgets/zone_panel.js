// @ts-check
// The zone editor's side panel: the list of zones (pick one, add one) and the selected zone's
// form (id, name, kind; delete its selected point or the zone). It edits the model the canvas
// draws (zone_canvas.js). The list is redrawn on every change; the form only when another zone
// is selected, so the field being edited is never removed under the cursor (its blur would fire
// "change" while the panel is being rebuilt).

import { fill, h } from "../core/dom.js";
import { t, tv } from "../core/i18n.js";
import { addZone, deletePoint } from "./zone_canvas.js";
import { ID_PATTERN, ZONE_KINDS as KINDS } from "../generated/enums.js";

/** @typedef {import("./zone_canvas.js").ZoneModel} ZoneModel */
/** @typedef {import("../core/types.js").Zone} Zone */

export class ZonePanel {
  /**
   * @param {ZoneModel} model
   * @param {{select: () => void, edit: () => void}} on select: another zone was picked (draw
   *   again); edit: the zones changed (an unsaved edit)
   */
  constructor(model, on) {
    this.model = model;
    this.on = on;
    this.listBox = h("div", { class: "zone-list-box" });
    this.formBox = h("div", { class: "zone-form-box" });
    this.el = h("div", { class: "zone-side" }, this.listBox, this.formBox);
    /** @type {Zone | null} the zone the form shows */
    this.formZone = null;
  }

  /** Draw the list again; the form too when the selected zone is another one. */
  paint() {
    const model = this.model;
    const list = h(
      "ul",
      { class: "zone-list", id: "zone-list" },
      model.zones.map((z, i) => h("li", {}, this.pickButton(z, i))),
    );
    const add = h("button", {
      type: "button",
      id: "zone-new",
      text: t("zones.new"),
      onclick: () => {
        addZone(model);
        this.on.edit();
      },
    });
    fill(this.listBox, h("h2", { text: t("zones.zones") }), model.zones.length ? list : h("p", { class: "muted", text: t("zones.none") }), add);
    const z = model.zones[model.sel] || null;
    if (z !== this.formZone) {
      this.formZone = z;
      fill(this.formBox, z ? this.zoneForm(z) : null);
    }
    if (z) {
      const legend = this.formBox.querySelector("legend");
      if (legend) legend.textContent = t("zones.selected", { zone: z.id || "?" });
      const deleteButton = /** @type {HTMLButtonElement | null} */ (this.formBox.querySelector("#point-delete"));
      if (deleteButton) deleteButton.disabled = model.pt < 0;
    }
  }

  /**
   * The list entry that selects zone i.
   * @param {Zone} z
   * @param {number} i
   */
  pickButton(z, i) {
    const model = this.model;
    return h("button", {
      type: "button",
      class: ["zone-pick", `kind-${z.kind}`, i === model.sel && "selected"],
      "aria-pressed": String(i === model.sel),
      text: `${z.id || "?"} · ${tv("kind", z.kind)} · ${t("zones.n_points", { n: z.points.length })}`,
      onclick: () => {
        model.sel = i;
        model.drawing = false;
        model.pt = -1;
        this.on.select();
      },
    });
  }

  /**
   * The selected zone's fields and buttons.
   * @param {Zone} z
   */
  zoneForm(z) {
    const model = this.model;
    const id = h("input", { id: "zone-id", value: z.id, pattern: new RegExp(ID_PATTERN).source, required: true, autocomplete: "off" });
    id.addEventListener("change", () => {
      z.id = id.value.trim();
      this.on.edit();
    });
    const name = h("input", { id: "zone-name", value: z.name, maxlength: 100, autocomplete: "off" });
    name.addEventListener("change", () => {
      z.name = name.value;
      this.on.edit();
    });
    const kind = h("select", { id: "zone-kind" }, KINDS.map((k) => h("option", { value: k, selected: k === z.kind, text: tv("kind", k) })));
    kind.addEventListener("change", () => {
      z.kind = kind.value;
      this.on.edit();
    });
    const deletePointButton = h("button", {
      type: "button",
      id: "point-delete",
      disabled: model.pt < 0,
      text: t("zones.delete_point"),
      onclick: () => {
        deletePoint(model);
        this.on.edit();
      },
    });
    const deleteZoneButton = h("button", {
      type: "button",
      id: "zone-delete",
      class: "danger",
      text: t("zones.delete_zone"),
      onclick: () => {
        model.zones.splice(model.sel, 1);
        model.sel = -1;
        model.pt = -1;
        model.drawing = false;
        this.on.edit();
      },
    });
    return h(
      "fieldset",
      { class: "zone-form" },
      h("legend", { text: t("zones.selected", { zone: z.id || "?" }) }),
      h("div", { class: "field" }, h("label", { for: "zone-id", text: t("zones.id") }), id, h("span", { class: "muted small", text: t("zones.id_hint") })),
      h("div", { class: "field" }, h("label", { for: "zone-name", text: t("zones.name") }), name),
      h("div", { class: "field" }, h("label", { for: "zone-kind", text: t("zones.kind") }), kind),
      h("div", { class: "buttons" }, deletePointButton, deleteZoneButton),
    );
  }
}
