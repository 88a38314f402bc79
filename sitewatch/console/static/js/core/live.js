// @ts-check
// Live events over Server-Sent Events (/api/events). EventSource reconnects by itself after a
// dropped connection; when the server answers with an error it gives up, so we start a new
// one after a pause. Every (re)open is announced so views re-read what they show: nothing
// published while we were away is missed. The server ends a stream whose session ended
// ("end" event): the page then asks /api/auth/me, which signs it out on a 401.

import { api, statusOf } from "./api.js";

/**
 * What each event carries: the server's records for alert, incident, camera and config; a site
 * event only says that the site list changed; open: whether it is a reconnect; status: the
 * stream's.
 * @typedef {object} LiveEvents
 * @property {import("./types.js").Alert} alert
 * @property {import("./types.js").Incident} incident
 * @property {import("./types.js").Camera} camera
 * @property {unknown} site
 * @property {import("./types.js").ConfigRequest} config
 * @property {{reconnect: boolean}} open
 * @property {string} status "connecting" | "open" | "reconnecting" | "off"
 */

/** @type {readonly ("alert" | "incident" | "camera" | "site" | "config")[]} */
const KINDS = ["alert", "incident", "camera", "site", "config"];
const RETRY_MS = 3000;

export class Live {
  constructor(url = "/api/events") {
    this.url = url;
    /** @type {Map<keyof LiveEvents, Set<(data: any) => void>>} */
    this.handlers = new Map();
    /** @type {EventSource | null} */
    this.source = null;
    this.opens = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
    this.stopped = true;
  }

  /**
   * Subscribe to one kind of event; returns off().
   * @template {keyof LiveEvents} K
   * @param {K} kind
   * @param {(data: LiveEvents[K]) => void} fn
   * @returns {() => void}
   */
  on(kind, fn) {
    let set = this.handlers.get(kind);
    if (!set) this.handlers.set(kind, (set = new Set()));
    const handlers = set;
    handlers.add(fn);
    return () => {
      handlers.delete(fn);
    };
  }

  /**
   * @template {keyof LiveEvents} K
   * @param {K} kind
   * @param {LiveEvents[K]} data
   */
  emit(kind, data) {
    for (const fn of [...(this.handlers.get(kind) || [])]) {
      try {
        fn(data);
      } catch (err) {
        console.error(`live ${kind} handler`, err);
      }
    }
  }

  /** @param {LiveEvents["status"]} status */
  setStatus(status) {
    document.body.dataset.live = status;
    this.emit("status", status);
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  connect() {
    clearTimeout(this.timer);
    if (this.source) this.source.close();
    const source = new EventSource(this.url, { withCredentials: true });
    this.source = source;
    this.setStatus("connecting");
    source.onopen = () => {
      this.opens += 1;
      this.setStatus("open");
      this.emit("open", { reconnect: this.opens > 1 });
    };
    source.onerror = () => {
      if (this.stopped || source !== this.source) return;
      this.setStatus("reconnecting");
      if (source.readyState === EventSource.CLOSED) {
        this.timer = setTimeout(() => this.connect(), RETRY_MS);
      }
    };
    // the server ended the stream with its session (logout elsewhere, user disabled, access
    // changed): ask who we are; a 401 there signs the page out (api.js), else reconnect
    source.addEventListener("end", () => {
      source.close();
      if (this.stopped || source !== this.source) return;
      this.setStatus("reconnecting");
      api("/api/auth/me").then(
        () => this.connect(),
        (/** @type {unknown} */ err) => {
          if (statusOf(err) !== 401 && !this.stopped) this.timer = setTimeout(() => this.connect(), RETRY_MS);
        },
      );
    });
    for (const kind of KINDS) {
      source.addEventListener(kind, (event) => {
        let data;
        try {
          data = JSON.parse(event.data);
        } catch {
          console.warn(`live: ${kind} event that is not JSON`, event.data);
          return;
        }
        this.emit(kind, data);
      });
    }
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.source) this.source.close();
    this.source = null;
    this.setStatus("off");
  }
}
