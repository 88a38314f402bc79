// @ts-check
// A zoomed close-up of the violator beside a snapshot: a canvas that draws, from the same
// picture (no new server image), the alert's normalised box with margin around it, as the
// printable evidence report does (sitewatch/console/domain/evidence_report.py): MARGIN box
// sizes on each side, and for a bare head BELOW_HEAD head heights downward (the person). The
// region is then widened to the canvas's shape (nothing is stretched) and kept in the picture.
// The canvas says what it shows in data-region ("x,y,w,h" in the picture's pixels) and sets
// data-ready once drawn (tests wait for it).

export const MARGIN = 1.0;
export const BELOW_HEAD = 4.0;
export const MIN_SHARE = 0.08; // a region narrower than this share of the picture is widened (tiny boxes)

/**
 * @typedef {object} Region a rectangle in the picture's pixels
 * @property {number} x
 * @property {number} y
 * @property {number} w
 * @property {number} h
 */

/**
 * The part of a `width` × `height` picture to show for a normalised `box` of `label`, shaped
 * `aspect` (width / height).
 * @param {readonly number[]} box x1, y1, x2, y2 in 0..1
 * @param {string} label the detector's label ("head": a bare head, the person is below it)
 * @param {number} width
 * @param {number} height
 * @param {number} aspect
 * @returns {Region}
 */
export function cropRegion(box, label, width, height, aspect) {
  const [x1 = 0, y1 = 0, x2 = 0, y2 = 0] = box.map((v) => Math.min(Math.max(v, 0), 1));
  const bw = Math.max(x2 - x1, 0) * width;
  const bh = Math.max(y2 - y1, 0) * height;
  const below = label === "head" ? BELOW_HEAD : MARGIN;
  let left = x1 * width - bw * MARGIN;
  let right = x2 * width + bw * MARGIN;
  let top = y1 * height - bh * MARGIN;
  let bottom = y2 * height + bh * below;
  const least = MIN_SHARE * Math.max(width, height);
  if (right - left < least) [left, right] = grow(left, right, least);
  if (bottom - top < least) [top, bottom] = grow(top, bottom, least);
  // the canvas's shape: widen the narrow side around the region's centre
  if ((right - left) / (bottom - top) < aspect) [left, right] = grow(left, right, (bottom - top) * aspect);
  else [top, bottom] = grow(top, bottom, (right - left) / aspect);
  const w = Math.min(right - left, width);
  const h = Math.min(bottom - top, height);
  const x = Math.min(Math.max(left, 0), width - w);
  const y = Math.min(Math.max(top, 0), height - h);
  return { x: Math.round(x), y: Math.round(y), w: Math.round(w), h: Math.round(h) };
}

/**
 * `lo`..`hi` widened to `size` around its middle.
 * @param {number} lo
 * @param {number} hi
 * @param {number} size
 * @returns {[number, number]}
 */
function grow(lo, hi, size) {
  const mid = (lo + hi) / 2;
  return [mid - size / 2, mid + size / 2];
}

/**
 * A canvas showing the close-up of `box` in the picture at `src`; null without a usable box.
 * The canvas is `width` × `height` CSS pixels (drawn at the screen's pixel density); the
 * stylesheet may scale it (its shape stays).
 * @param {string} src the picture's URL (same origin: the console's evidence)
 * @param {readonly number[] | null | undefined} box
 * @param {string} label
 * @param {{width: number, height: number, alt: string, className?: string}} opts
 * @returns {HTMLCanvasElement | null}
 */
export function evidenceCrop(src, box, label, opts) {
  if (!box || box.length !== 4) return null;
  const [x1 = 0, y1 = 0, x2 = 0, y2 = 0] = box;
  if (!(x2 > x1 && y2 > y1)) return null; // an empty box: nothing to enlarge
  const density = Math.min(Math.max(window.devicePixelRatio || 1, 1), 3);
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(opts.width * density);
  canvas.height = Math.round(opts.height * density);
  canvas.className = ["evidence-crop", opts.className || ""].join(" ").trim();
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", opts.alt);
  const img = new Image();
  img.decoding = "async";
  img.addEventListener("load", () => {
    const r = cropRegion(box, label, img.naturalWidth, img.naturalHeight, opts.width / opts.height);
    const g = canvas.getContext("2d");
    if (!g || r.w <= 0 || r.h <= 0) return;
    g.imageSmoothingEnabled = true;
    g.imageSmoothingQuality = "high";
    g.drawImage(img, r.x, r.y, r.w, r.h, 0, 0, canvas.width, canvas.height);
    canvas.dataset.region = `${r.x},${r.y},${r.w},${r.h}`;
    canvas.dataset.ready = "1";
  });
  img.addEventListener("error", () => {
    canvas.dataset.ready = "error";
  });
  img.src = src;
  return canvas;
}
