// @ts-check
// Small inline SVG charts (no library): a score sparkline and a stacked bar chart.

import { h } from "../core/dom.js";
import { t } from "../core/i18n.js";

const PALETTE = ["#2b6cb0", "#d69e2e", "#c53030", "#2f855a", "#6b46c1", "#dd6b20", "#319795", "#b83280", "#4a5568", "#975a16"];

/**
 * The i-th series' colour (the palette repeats).
 * @param {number} i
 */
export function colour(i) {
  return PALETTE[i % PALETTE.length];
}

/**
 * An <svg> drawn at the width its box has on screen: one SVG unit is one CSS pixel, so the
 * text stays 11 px on a phone and on a wall screen, and the chart fills its container
 * (style.css: width 100 %). It is drawn again when that width changes; below minWidth it
 * keeps minWidth (its container scrolls). draw(svg, width) adds the children.
 * @param {import("../core/dom.js").Props} props
 * @param {number} height px
 * @param {number} minWidth px
 * @param {number} initialWidth px, until the box has been measured
 * @param {(svg: SVGSVGElement, width: number) => void} draw
 */
function fitted(props, height, minWidth, initialWidth, draw) {
  const svg = h("svg:svg", { ...props, height, style: { minWidth: `${minWidth}px` } });
  let drawn = 0;
  /** @param {number} width */
  const paint = (width) => {
    const w = Math.max(minWidth, Math.round(width));
    if (!width || w === drawn) return;
    drawn = w;
    svg.setAttribute("viewBox", `0 0 ${w} ${height}`);
    svg.replaceChildren();
    draw(svg, w);
  };
  paint(initialWidth);
  const resized = new ResizeObserver(() => {
    if (svg.isConnected) paint(svg.getBoundingClientRect().width);
    else resized.disconnect();
  });
  resized.observe(svg);
  return svg;
}

/** @typedef {{height?: number, label?: string, tick?: (category: string) => string}} ChartOptions height px; label: its accessible name; tick: a category's label under its bar (default: a day's "MM-DD") */

/**
 * Score over time: points [{t: ms, v: 0..1, label}], y from 0 to 1.
 * Returns an <svg role="img"> with a <title> per point for hover and screen readers.
 * @param {{t: number, v: number, label: string}[]} points
 * @param {ChartOptions} [options]
 */
export function sparkline(points, { height = 120, label = "" } = {}) {
  const pad = { l: 34, r: 10, t: 10, b: 22 };
  const props = { class: "sparkline", role: "img", "aria-label": label, preserveAspectRatio: "xMinYMin meet" };
  return fitted(props, height, 240, 480, (svg, width) => {
    const w = width - pad.l - pad.r;
    const hgt = height - pad.t - pad.b;
    for (const v of [0, 0.5, 1]) {
      const y = pad.t + hgt * (1 - v);
      svg.append(h("svg:line", { x1: pad.l, x2: pad.l + w, y1: y, y2: y, class: "grid" }));
      svg.append(h("svg:text", { x: pad.l - 6, y: y + 4, "text-anchor": "end", class: "tick", text: v.toFixed(1) }));
    }
    if (!points.length) return;
    const t0 = Math.min(...points.map((p) => p.t));
    const t1 = Math.max(...points.map((p) => p.t));
    const span = Math.max(1, t1 - t0);
    /** @type {[number, number][]} */
    const xy = points.map((p) => [pad.l + (points.length === 1 ? w / 2 : ((p.t - t0) / span) * w), pad.t + hgt * (1 - Math.min(1, Math.max(0, p.v)))]);
    svg.append(h("svg:polyline", { points: xy.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" "), class: "line" }));
    xy.forEach(([x, y], i) => {
      svg.append(h("svg:circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 3.5, class: "point" }, h("svg:title", { text: points[i]?.label })));
    });
    const seconds = Math.round(span / 1000);
    svg.append(h("svg:text", { x: pad.l, y: height - 6, class: "tick", text: t("duration.s", { s: 0 }) }));
    svg.append(h("svg:text", { x: pad.l + w, y: height - 6, "text-anchor": "end", class: "tick", text: t("duration.s", { s: seconds }) }));
  });
}

const MIN_BAND = 14; // px per category below which the chart scrolls instead of shrinking
const LABEL_GAP = 22; // px between two day labels (every k-th day is labelled below that)

/** @typedef {{key: string, label: string}} Series */

/**
 * Stacked bars: categories (x labels, e.g. days), series [{key, label}], value(cat, key) -> n.
 * The bars share the container's width; day labels are upright when there is room for them.
 * @param {string[]} categories
 * @param {Series[]} series
 * @param {(category: string, key: string) => number} value
 * @param {ChartOptions} [options]
 */
export function stackedBars(categories, series, value, { height = 260, label = "", tick = (c) => c.slice(5) } = {}) {
  const pad = { l: 40, r: 10, t: 12, b: 46 };
  const n = Math.max(1, categories.length);
  const totals = categories.map((c) => series.reduce((sum, s) => sum + value(c, s.key), 0));
  const max = Math.max(1, ...totals);
  const step = niceStep(max);
  const top = Math.ceil(max / step) * step;
  const props = { class: "bars", role: "img", "aria-label": label, preserveAspectRatio: "xMinYMin meet" };
  return fitted(props, height, pad.l + pad.r + n * MIN_BAND, pad.l + pad.r + n * 48, (svg, width) => {
    const band = (width - pad.l - pad.r) / n;
    const bar = Math.min(band * 0.7, 72);
    const upright = band >= 44; // room for "11-22" level under each bar
    const bottom = upright ? 24 : pad.b;
    const hgt = height - pad.t - bottom;
    const every = Math.ceil(LABEL_GAP / band);
    for (let v = 0; v <= top; v += step) {
      const y = pad.t + hgt * (1 - v / top);
      svg.append(h("svg:line", { x1: pad.l, x2: width - pad.r, y1: y, y2: y, class: "grid" }));
      svg.append(h("svg:text", { x: pad.l - 6, y: y + 4, "text-anchor": "end", class: "tick", text: String(v) }));
    }
    categories.forEach((c, i) => {
      let y = pad.t + hgt;
      const mid = pad.l + i * band + band / 2;
      series.forEach((s, j) => {
        const count = value(c, s.key);
        if (!count) return;
        const bh = (count / top) * hgt;
        y -= bh;
        svg.append(h("svg:rect", { x: (mid - bar / 2).toFixed(1), y: y.toFixed(1), width: bar.toFixed(1), height: bh.toFixed(1), fill: colour(j) }, h("svg:title", { text: `${c} · ${s.label}: ${count}` })));
      });
      if ((n - 1 - i) % every) return; // the latest day always has its label
      const ly = height - bottom + 14;
      const text = tick(c);
      if (upright) svg.append(h("svg:text", { x: mid, y: ly, "text-anchor": "middle", class: "tick", text }));
      else svg.append(h("svg:text", { x: mid, y: ly, "text-anchor": "end", transform: `rotate(-40 ${mid} ${ly})`, class: "tick", text }));
    });
  });
}

/**
 * A round step (1, 2, 5 times a power of ten, at least 1) for about five grid lines to max.
 * @param {number} max
 */
function niceStep(max) {
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (raw <= m * mag) return Math.max(1, m * mag);
  return Math.max(1, 10 * mag);
}

/**
 * The series' names beside their colours.
 * @param {Series[]} series
 */
export function legend(series) {
  return h(
    "ul",
    { class: "legend" },
    series.map((s, j) => h("li", {}, h("span", { class: "swatch", style: { background: colour(j) }, "aria-hidden": "true" }), s.label)),
  );
}
