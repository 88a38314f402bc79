// @ts-check
// Tiny DOM helpers: h() builds elements, clear() empties one. No framework, no build step.

/**
 * What h() and fill() take as children: nodes, text (numbers as text), nested arrays; null,
 * undefined and false are left out (so `cond && el` may be passed).
 * @typedef {Node | string | number | boolean | null | undefined | ChildList} Child
 * @typedef {readonly Child[]} ChildList
 */

/** @typedef {Record<string, unknown>} Props */

/**
 * The element h(tag) makes: "div" -> HTMLDivElement, "svg:circle" -> SVGCircleElement.
 * @template {string} T
 * @typedef {T extends keyof HTMLElementTagNameMap ? HTMLElementTagNameMap[T]
 *   : T extends `svg:${infer S extends keyof SVGElementTagNameMap}` ? SVGElementTagNameMap[S]
 *   : Element} Tag
 */

/**
 * h("a", {href: "#/x", class: "btn", onclick: fn}, "text", child, [more]) -> HTMLElement.
 * Props: class (a string or an array, falsy entries dropped), text, on<event> handlers,
 * dataset (object), style (object), value, checked / selected / disabled, anything else as an
 * attribute (false / null / undefined leave it out; true sets it empty). html is NOT supported
 * (no innerHTML: data never becomes markup). "svg:<tag>" makes an SVG element.
 * @template {string} T
 * @param {T} tag
 * @param {Props} [props]
 * @param {...Child} children
 * @returns {Tag<T>}
 */
export function h(tag, props = {}, ...children) {
  const svg = tag.startsWith("svg:");
  const el = svg
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "class") el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : String(value));
    else if (key === "text") el.textContent = String(value);
    else if (key === "dataset" && typeof value === "object") Object.assign(/** @type {HTMLElement} */ (el).dataset, value);
    else if (key === "style" && typeof value === "object") Object.assign(/** @type {HTMLElement} */ (el).style, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), /** @type {EventListener} */ (value));
    else if (key === "value" && !svg) /** @type {HTMLInputElement} */ (el).value = String(value);
    else if (key === "checked" || key === "selected" || key === "disabled") /** @type {any} */ (el)[key] = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return /** @type {Tag<T>} */ (el);
}

/**
 * Append children (see Child) to el.
 * @template {Element} E
 * @param {E} el
 * @param {ChildList} children
 * @returns {E}
 */
export function append(el, children) {
  for (const child of /** @type {unknown[]} */ (children).flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/**
 * Remove every child of el.
 * @template {Element} E
 * @param {E} el
 * @returns {E}
 */
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/**
 * Replace el's children with children.
 * @template {Element} E
 * @param {E} el
 * @param {...Child} children
 * @returns {E}
 */
export function fill(el, ...children) {
  clear(el);
  return append(el, children);
}

/**
 * Run fn at most once per `ms` (trailing call kept).
 * @template {unknown[]} A
 * @param {(...args: A) => unknown} fn
 * @param {number} ms milliseconds
 * @returns {(...args: A) => void}
 */
export function debounce(fn, ms) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/**
 * The element with this id; throws when the page has none (a bug in the page, not a state).
 * @param {string} id
 */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no element #${id}: expected it to be drawn before use`);
  return el;
}
