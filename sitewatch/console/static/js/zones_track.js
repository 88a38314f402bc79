// Follows one config change until the edge answers: the SSE "config" event, with polling of
// GET /api/config-requests/{id} as a fallback (a missed event, a proxy that buffers SSE).

import { api } from "./api.js";
import { fmtTime, t } from "./i18n.js";

const POLL_MS = 2000;

export class ConfigTracker {
  constructor(ctx, el, onAnswer) {
    this.el = el;
    this.onAnswer = onAnswer;
    this.request = null;
    this.timer = null;
    this.off = ctx.live.on("config", (req) => this.seen(req));
    this.offOpen = ctx.live.on("open", () => this.poll());
  }

  get pending() {
    return Boolean(this.request && this.request.status === "pending");
  }

  follow(req) {
    this.request = req;
    this.paint();
    if (req.status === "pending") this.schedule();
  }

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
    if (!this.pending) return;
    try {
      this.seen(await api(`/api/config-requests/${encodeURIComponent(this.request.request_id)}`));
    } catch (err) {
      console.warn("config request", err.message);
    }
    if (this.pending) this.schedule();
  }

  paint() {
    const r = this.request;
    this.el.dataset.status = r.status;
    this.el.className = `config-status status-${r.status}`;
    if (r.status === "pending") this.el.textContent = t("config.pending", { at: fmtTime(r.issued_at) });
    else if (r.status === "applied") this.el.textContent = t("config.applied", { version: r.version });
    else this.el.textContent = t("config.refused", { reason: r.reason || "—", version: r.version || "—" });
  }

  stop() {
    clearTimeout(this.timer);
    this.off();
    this.offOpen();
  }
}
