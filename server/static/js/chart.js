// Small inline SVG charts (no library): a score sparkline and a stacked bar chart.

import { h } from "./dom.js";
import { t } from "./i18n.js";

const PALETTE = ["#2b6cb0", "#d69e2e", "#c53030", "#2f855a", "#6b46c1", "#dd6b20", "#319795", "#b83280", "#4a5568", "#975a16"];

export function colour(i) {
  return PALETTE[i % PALETTE.length];
}

/**
 * Score over time: points [{t: ms, v: 0..1, label}], y from 0 to 1.
 * Returns an <svg role="img"> with a <title> per point for hover and screen readers.
 */
export function sparkline(points, { width = 480, height = 120, label = "" } = {}) {
  const pad = { l: 34, r: 10, t: 10, b: 22 };
  const w = width - pad.l - pad.r;
  const hgt = height - pad.t - pad.b;
  const svg = h("svg:svg", { viewBox: `0 0 ${width} ${height}`, class: "sparkline", role: "img", "aria-label": label, preserveAspectRatio: "xMidYMid meet" });
  for (const v of [0, 0.5, 1]) {
    const y = pad.t + hgt * (1 - v);
    svg.append(h("svg:line", { x1: pad.l, x2: pad.l + w, y1: y, y2: y, class: "grid" }));
    svg.append(h("svg:text", { x: pad.l - 6, y: y + 4, "text-anchor": "end", class: "tick", text: v.toFixed(1) }));
  }
  if (!points.length) return svg;
  const t0 = Math.min(...points.map((p) => p.t));
  const t1 = Math.max(...points.map((p) => p.t));
  const span = Math.max(1, t1 - t0);
  const xy = points.map((p) => [pad.l + (points.length === 1 ? w / 2 : ((p.t - t0) / span) * w), pad.t + hgt * (1 - Math.min(1, Math.max(0, p.v)))]);
  svg.append(h("svg:polyline", { points: xy.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" "), class: "line" }));
  points.forEach((p, i) => {
    svg.append(h("svg:circle", { cx: xy[i][0].toFixed(1), cy: xy[i][1].toFixed(1), r: 3.5, class: "point" }, h("svg:title", { text: p.label })));
  });
  const seconds = Math.round(span / 1000);
  svg.append(h("svg:text", { x: pad.l, y: height - 6, class: "tick", text: t("duration.s", { s: 0 }) }));
  svg.append(h("svg:text", { x: pad.l + w, y: height - 6, "text-anchor": "end", class: "tick", text: t("duration.s", { s: seconds }) }));
  return svg;
}

/**
 * Stacked bars: categories (x labels, e.g. days), series [{key, label}], value(cat, key) -> n.
 */
export function stackedBars(categories, series, value, { height = 260, label = "" } = {}) {
  const pad = { l: 40, r: 10, t: 12, b: 46 };
  const band = Math.max(18, Math.min(48, 720 / Math.max(1, categories.length)));
  const width = pad.l + pad.r + band * Math.max(1, categories.length);
  const hgt = height - pad.t - pad.b;
  const totals = categories.map((c) => series.reduce((n, s) => n + value(c, s.key), 0));
  const max = Math.max(1, ...totals);
  const step = niceStep(max);
  const top = Math.ceil(max / step) * step;
  const svg = h("svg:svg", { viewBox: `0 0 ${width} ${height}`, class: "bars", role: "img", "aria-label": label, width, height });
  for (let v = 0; v <= top; v += step) {
    const y = pad.t + hgt * (1 - v / top);
    svg.append(h("svg:line", { x1: pad.l, x2: width - pad.r, y1: y, y2: y, class: "grid" }));
    svg.append(h("svg:text", { x: pad.l - 6, y: y + 4, "text-anchor": "end", class: "tick", text: String(v) }));
  }
  categories.forEach((c, i) => {
    let y = pad.t + hgt;
    const x = pad.l + i * band + band * 0.15;
    series.forEach((s, j) => {
      const n = value(c, s.key);
      if (!n) return;
      const bh = (n / top) * hgt;
      y -= bh;
      svg.append(h("svg:rect", { x: x.toFixed(1), y: y.toFixed(1), width: (band * 0.7).toFixed(1), height: bh.toFixed(1), fill: colour(j) }, h("svg:title", { text: `${c} · ${s.label}: ${n}` })));
    });
    const lx = pad.l + i * band + band / 2;
    svg.append(h("svg:text", { x: lx, y: height - pad.b + 14, "text-anchor": "end", transform: `rotate(-40 ${lx} ${height - pad.b + 14})`, class: "tick", text: c.slice(5) }));
  });
  return svg;
}

function niceStep(max) {
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (raw <= m * mag) return Math.max(1, m * mag);
  return Math.max(1, 10 * mag);
}

export function legend(series) {
  return h(
    "ul",
    { class: "legend" },
    series.map((s, j) => h("li", {}, h("span", { class: "swatch", style: { background: colour(j) }, "aria-hidden": "true" }), s.label)),
  );
}
