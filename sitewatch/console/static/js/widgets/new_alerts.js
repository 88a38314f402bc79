// @ts-check
// The feed's "N new alerts — show" banner. A live alert's row lands where the order puts it
// (oldest first: at the bottom), often off screen, where only the beep and the header badge
// would tell of it. The banner sticks under the header until those rows are seen: scrolled
// into view by the user, or by the banner itself, which then highlights them.

import { h } from "../core/dom.js";
import { t } from "../core/i18n.js";

/** The header's height (app.js keeps --header-h): a row under the sticky header is not seen. */
function headerHeight() {
  return parseFloat(getComputedStyle(document.documentElement).getPropertyValue("--header-h")) || 0;
}

/**
 * Whether most of the row is on screen, below the header, in a tab being looked at.
 * @param {Element} tr
 */
function onScreen(tr) {
  if (document.hidden) return false;
  const r = tr.getBoundingClientRect();
  const middle = (r.top + r.bottom) / 2;
  return r.height > 0 && middle >= headerHeight() && middle <= window.innerHeight;
}

/**
 * Run the highlight again (its animation restarts).
 * @param {HTMLElement} tr
 */
function flash(tr) {
  tr.classList.remove("flash");
  void tr.offsetWidth; // a style flush between removing and adding restarts the animation
  tr.classList.add("flash");
}

export class NewAlerts {
  /** @param {Map<string, HTMLTableRowElement>} rows the feed's id -> <tr> (replaced on every update) */
  constructor(rows) {
    this.rows = rows;
    /** @type {Set<string>} alert ids */
    this.unseen = new Set();
    this.button = h("button", { type: "button", class: "new-alerts", id: "feed-new", onclick: () => this.show() });
    this.banner = h("div", { class: "new-alerts-bar", role: "status", hidden: true }, this.button);
    this.observer = new IntersectionObserver((entries) => this.seen(entries), { threshold: 0.6 });
    this.onVisible = () => this.paint(); // back on this tab: rows now on screen count as seen
    document.addEventListener("visibilitychange", this.onVisible);
  }

  /**
   * A row the live stream added: unseen while it is off screen.
   * @param {string} id
   */
  landed(id) {
    const tr = this.rows.get(id);
    if (!tr || onScreen(tr)) return;
    this.unseen.add(id);
    this.paint();
  }

  /** @param {IntersectionObserverEntry[]} entries */
  seen(entries) {
    let changed = false;
    for (const entry of entries) {
      const target = /** @type {HTMLTableRowElement} */ (entry.target);
      const id = target.dataset.id || "";
      if (!entry.isIntersecting || document.hidden || !this.unseen.has(id) || !onScreen(target)) continue;
      this.unseen.delete(id);
      flash(target);
      changed = true;
    }
    if (changed) this.paint();
  }

  /** After every change of the list: forget rows that left it, watch the current ones. */
  paint() {
    this.observer.disconnect();
    for (const id of [...this.unseen]) {
      const tr = this.rows.get(id);
      if (tr && tr.isConnected) this.observer.observe(tr);
      else this.unseen.delete(id);
    }
    const n = this.unseen.size;
    this.banner.hidden = n === 0;
    if (n) this.button.textContent = n === 1 ? t("feed.new_alert") : t("feed.new_alerts", { n });
  }

  /** The banner's button: scroll to the first unseen row, highlight them all, focus it. */
  show() {
    const trs = [...this.unseen].flatMap((id) => {
      const tr = this.rows.get(id);
      return tr && tr.isConnected ? [tr] : [];
    });
    trs.sort((a, b) => (a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1));
    this.unseen.clear();
    this.paint();
    const first = trs[0];
    if (!first) return;
    const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    first.scrollIntoView({ block: "center", behavior: still ? "auto" : "smooth" });
    trs.forEach(flash);
    const link = /** @type {HTMLAnchorElement | null} */ (first.querySelector("a.row-link"));
    link?.focus({ preventScroll: true });
  }

  stop() {
    this.observer.disconnect();
    document.removeEventListener("visibilitychange", this.onVisible);
  }
}
