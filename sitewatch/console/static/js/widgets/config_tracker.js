// @ts-check
// Follows one config change until the edge answers: the SSE "config" event, with polling of
// GET /api/config-requests/{id} as a fallback (a missed event, a proxy that buffers SSE).

import { api, edgeReason, errorText } from "../core/api.js";
import { fmtTime, t } from "../core/i18n.js";

const POLL_MS = 2000;

/** @typedef {import("../core/types.js").ConfigRequest} ConfigRequest */

export class ConfigTracker {
  /**
   * @param {import("../core/types.js").Ctx} ctx
   * @param {HTMLElement} el where the request's status is shown
   * @param {(req: ConfigRequest) => void} onAnswer called once the edge has answered
   */
  constructor(ctx, el, onAnswer) {
    this.el = el;
    this.onAnswer = onAnswer;
    /** @type {ConfigRequest | null} */
    this.request = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
    this.off = ctx.live.on("config", (req) => this.seen(req));
    this.offOpen = ctx.live.on("open", () => this.poll());
  }

  get pending() {
    return Boolean(this.request && this.request.status === "pending");
  }

  /**
   * Follow `req` (just sent, or still pending from before) until the edge answers.
   * @param {ConfigRequest} req
   */
  follow(req) {
    this.request = req;
    this.paint();
    if (req.status === "pending") this.schedule();
  }

  /** @param {ConfigRequest} req */
  seen(req) {
    if (!this.request || req.request_id !== this.request.request_id) return;
    const was = this.request.status;
    this.request = req;
    this.paint();
    if (was === "pending" && req.status !== "pending") {
      clearTimeout(this.timer);
      this.onAnswer(req);
    }
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.poll(), POLL_MS);
  }

  async poll() {
    if (!this.pending || !this.request) return;
    try {
      this.seen(await api(`/api/config-requests/${encodeURIComponent(this.request.request_id)}`));
    } catch (err) {
      console.warn("config request", errorText(err));
    }
    if (this.pending) this.schedule();
  }

  paint() {
    const r = this.request;
    if (!r) return;
    this.el.dataset.status = r.status;
    this.el.className = `config-status status-${r.status}`;
    if (r.status === "pending") this.el.textContent = t("config.pending", { at: fmtTime(r.issued_at) });
    else if (r.status === "applied") this.el.textContent = t("config.applied", { version: r.version || "—" });
    else this.el.textContent = t("config.refused", { reason: r.reason ? edgeReason(r.reason) : "—", version: r.version || "—" });
  }

  stop() {
    clearTimeout(this.timer);
    this.off();
    this.offOpen();
  }
}
