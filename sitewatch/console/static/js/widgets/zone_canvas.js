// @ts-check
// The zone editor's drawing surface: an SVG over the camera picture, polygons in normalised
// 0..1 coordinates. It edits a model { zones, sel, pt } shared with the page (sel: selected
// zone, pt: selected point) and calls onChange("edit" | "select") after every change.
//
// Mouse / touch: click on the picture adds a point to the selected zone (a new zone if none
// is selected), click on another zone selects it, drag a point to move it. While a new zone
// is being drawn (model.drawing), every click adds a point, also inside other zones (a
// whole-view zone would otherwise swallow every click); picking a zone from the list, or
// Escape / Enter, ends the drawing. Keyboard: Tab to a
// point, arrow keys move it, Delete / Backspace removes it.

import { h } from "../core/dom.js";
import { t, tv } from "../core/i18n.js";

/** @typedef {import("../core/types.js").Point} Point */

/**
 * What the canvas edits, shared with the page: the zones, the selected zone and point (-1:
 * none) and whether a new zone is being drawn.
 * @typedef {object} ZoneModel
 * @property {import("../core/types.js").Zone[]} zones
 * @property {number} sel
 * @property {number} pt
 * @property {boolean} drawing
 */

const STEP = 0.005;
/** @param {number} v */
const clamp = (v) => Math.min(1, Math.max(0, v));
/** @param {number} v */
const round = (v) => Math.round(v * 10000) / 10000;

/**
 * Append a new empty zone with a free id and select it.
 * @param {ZoneModel} model
 */
export function addZone(model) {
  const used = new Set(model.zones.map((z) => z.id));
  let n = model.zones.length + 1;
  while (used.has(`zone-${n}`)) n += 1;
  model.zones.push({ id: `zone-${n}`, name: "", kind: "helmet_required", points: [] });
  model.sel = model.zones.length - 1;
  model.pt = -1;
  model.drawing = true;
}

/**
 * Remove the selected point of the selected zone.
 * @param {ZoneModel} model
 */
export function deletePoint(model) {
  const z = model.zones[model.sel];
  if (!z || model.pt < 0) return;
  z.points.splice(model.pt, 1);
  model.pt = Math.min(model.pt, z.points.length - 1);
}

export class ZoneCanvas {
  /**
   * @param {ZoneModel} model
   * @param {(kind: "edit" | "select") => void} onChange
   * @param {string} label the drawing surface's accessible name
   */
  constructor(model, onChange, label) {
    this.model = model;
    this.onChange = onChange;
    this.size = { w: 1600, h: 900 };
    /** @type {{pointer: number} | null} the point being dragged by that pointer */
    this.drag = null;
    this.dragEnded = false; // the click that follows a drag adds no point
    this.svg = h("svg:svg", { class: "zones-svg", id: "zone-canvas", viewBox: "0 0 1600 900", preserveAspectRatio: "none", role: "application", "aria-label": label });
    this.svg.addEventListener("pointerdown", () => {
      this.dragEnded = false;
    });
    this.svg.addEventListener("pointermove", (e) => this.move(e));
    this.svg.addEventListener("pointerup", (e) => this.endDrag(e));
    this.svg.addEventListener("pointercancel", (e) => this.endDrag(e));
    this.svg.addEventListener("click", (e) => this.click(e));
    this.svg.addEventListener("keydown", (e) => this.key(e));
  }

  /**
   * The picture's size in pixels: the SVG uses it as its coordinate system.
   * @param {number} w
   * @param {number} hgt
   */
  setSize(w, hgt) {
    this.size = { w, h: hgt };
    this.svg.setAttribute("viewBox", `0 0 ${w} ${hgt}`);
    this.draw();
  }

  /**
   * Where the pointer is, as a normalised point.
   * @param {MouseEvent} event
   * @returns {Point}
   */
  toNorm(event) {
    const r = this.svg.getBoundingClientRect();
    return [round(clamp((event.clientX - r.left) / r.width)), round(clamp((event.clientY - r.top) / r.height))];
  }

  draw() {
    const { zones, sel } = this.model;
    const { w, h: hgt } = this.size;
    const r = Math.max(w, hgt) / 120;
    /** @type {SVGElement[]} */
    const children = [];
    zones.forEach((z, i) => {
      const points = z.points.map(([x, y]) => `${x * w},${y * hgt}`).join(" ");
      const cls = ["zone", `kind-${z.kind}`, i === sel && "selected"].filter(Boolean).join(" ");
      const tag = z.points.length >= 3 ? "svg:polygon" : "svg:polyline";
      children.push(h(tag, { points, class: cls, dataset: { zone: String(i) } }, h("svg:title", { text: `${z.id} · ${tv("kind", z.kind)}` })));
      if (z.points.length) {
        // inside the zone, under its top-most point: above it, a zone along the image's top
        // edge had its name drawn off the image, and the zone below it showed its name there
        const [x, y] = z.points.reduce((a, b) => (b[1] < a[1] || (b[1] === a[1] && b[0] < a[0]) ? b : a));
        const ly = Math.min(y * hgt + r * 4, hgt - r);
        children.push(h("svg:text", { x: Math.min(x * w + r * 1.5, w - r * 6), y: ly, class: "zone-label", "font-size": r * 3, text: z.id || "?" }));
      }
    });
    (zones[sel]?.points || []).forEach(([x, y], j) => children.push(this.handle(x, y, j, r)));
    this.svg.replaceChildren(...children);
    this.svg.dataset.zones = String(zones.length);
  }

  /**
   * The j-th point's handle at (x, y), radius r px.
   * @param {number} x
   * @param {number} y
   * @param {number} j
   * @param {number} r
   */
  handle(x, y, j, r) {
    const active = j === this.model.pt;
    const el = h("svg:circle", {
      cx: x * this.size.w,
      cy: y * this.size.h,
      r: active ? r * 1.5 : r,
      class: ["handle", active && "active"].filter(Boolean).join(" "),
      tabindex: 0,
      role: "button",
      "aria-label": t("zones.point_label", { n: j + 1, x: x.toFixed(3), y: y.toFixed(3) }),
      dataset: { point: String(j) },
    });
    el.addEventListener("pointerdown", (event) => {
      event.stopPropagation();
      event.preventDefault();
      this.model.pt = j;
      this.drag = { pointer: event.pointerId };
      this.dragEnded = false;
      this.svg.setPointerCapture(event.pointerId);
      this.onChange("select");
    });
    el.addEventListener("focus", () => {
      if (this.model.pt === j) return;
      this.model.pt = j;
      requestAnimationFrame(() => {
        this.onChange("select");
        this.focusPoint(j);
      });
    });
    return el;
  }

  /** @param {number} j */
  focusPoint(j) {
    /** @type {SVGElement | null} */ (this.svg.querySelector(`[data-point="${j}"]`))?.focus();
  }

  /** @param {PointerEvent} event */
  move(event) {
    const { zones, sel, pt } = this.model;
    if (!this.drag || this.drag.pointer !== event.pointerId || !zones[sel]) return;
    zones[sel].points[pt] = this.toNorm(event);
    this.onChange("edit");
  }

  /** @param {PointerEvent} event */
  endDrag(event) {
    if (!this.drag || this.drag.pointer !== event.pointerId) return;
    this.drag = null;
    this.dragEnded = true;
    this.svg.releasePointerCapture(event.pointerId);
    this.onChange("edit");
  }

  /** @param {MouseEvent} event */
  click(event) {
    if (this.dragEnded) {
      this.dragEnded = false;
      return;
    }
    const target = /** @type {Element} */ (event.target);
    if (target.closest(".handle")) return;
    const model = this.model;
    const hit = /** @type {SVGElement | null} */ (target.closest("[data-zone]"));
    if (hit && !model.drawing && Number(hit.dataset.zone) !== model.sel) {
      model.sel = Number(hit.dataset.zone);
      model.pt = -1;
      this.onChange("select");
      return;
    }
    if (!model.zones[model.sel]) addZone(model);
    const zone = model.zones[model.sel];
    if (!zone) return;
    zone.points.push(this.toNorm(event));
    model.pt = zone.points.length - 1;
    this.onChange("edit");
  }

  /** @param {KeyboardEvent} event */
  key(event) {
    if (event.key === "Escape" || event.key === "Enter") {
      this.model.drawing = false;
      return;
    }
    const { zones, sel, pt } = this.model;
    const zone = zones[sel];
    const p = zone?.points[pt];
    if (!zone || !p) return;
    /** @type {Record<string, Point>} */
    const moves = { ArrowLeft: [-STEP, 0], ArrowRight: [STEP, 0], ArrowUp: [0, -STEP], ArrowDown: [0, STEP] };
    const move = moves[event.key];
    if (move) {
      const [dx, dy] = move;
      zone.points[pt] = [round(clamp(p[0] + dx)), round(clamp(p[1] + dy))];
    } else if (event.key === "Delete" || event.key === "Backspace") {
      deletePoint(this.model);
    } else return;
    event.preventDefault();
    this.onChange("edit");
    this.focusPoint(this.model.pt);
  }
}
