// @ts-check
// One live stream into one MediaSource: fetch() of GET /api/video/live/..., read chunk by
// chunk into a SourceBuffer of the type the console names in X-SiteWatch-Mime. The player
// (video_player.js) attaches the MediaSource and keeps the <video> near the live edge; this
// file only feeds bytes.

/** How much played video the buffer keeps behind the play position, in seconds. */
const KEEP_BEHIND_S = 20;
/** Bytes waiting to be appended beyond which the feed gives up (a stalled decoder); bytes are
 * not dropped instead: a chunk is any slice of a fragment, and the rest would not parse. */
const MAX_QUEUED = 8 * 1024 * 1024;

/**
 * @typedef {object} FeedAnswer The console's answer before the first byte.
 * @property {boolean} ok
 * @property {number} status HTTP status (0: no answer)
 * @property {string} mime the X-SiteWatch-Mime type ("" when refused)
 * @property {string} code the error code ("" when ok or none came)
 * @property {Record<string, unknown>} params the error's params
 * @property {string} detail the server's English detail
 */

/**
 * @typedef {object} FeedHooks
 * @property {(answer: FeedAnswer) => void} answer the console answered (ok or refused)
 * @property {(ms: MediaSource) => void} attach give the MediaSource to a <video>
 * @property {(bytes: number) => void} progress bytes received so far
 * @property {(why: string) => void} end the stream ended ("" normal end, else why)
 * @property {() => number} playhead the <video>'s currentTime (what lies well behind it is removed)
 */

/**
 * The MediaSource class this context has: ManagedMediaSource (Safari 17+, iPhone 17.1+: the
 * only one on iPhones), else MediaSource; null without either (then the player falls back
 * to playback windows, plain MP4 files).
 * @returns {typeof MediaSource | null}
 */
export function mediaSourceClass() {
  const g = /** @type {any} */ (globalThis);
  return g.ManagedMediaSource || g.MediaSource || null;
}

/**
 * Fetch `url` and feed it to a new MediaSource until `signal` aborts or the stream ends.
 * @param {string} url
 * @param {AbortSignal} signal
 * @param {FeedHooks} hooks
 */
export async function feed(url, signal, hooks) {
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin", signal, headers: { Accept: "video/mp4, application/json" } });
  } catch (err) {
    hooks.answer({ ok: false, status: 0, mime: "", code: signal.aborted ? "aborted" : "network", params: {}, detail: String(err) });
    return;
  }
  const mime = response.headers.get("X-SiteWatch-Mime") || "";
  const Source = mediaSourceClass();
  if (!response.ok || !response.body || !Source) {
    const body = await response.json().catch(() => null);
    hooks.answer({
      ok: false,
      status: response.status,
      mime,
      code: response.ok ? "no_mse" : (body && body.code) || "",
      params: (body && body.params) || {},
      detail: body && typeof body.detail === "string" ? body.detail : response.statusText,
    });
    return;
  }
  if (!Source.isTypeSupported(mime)) {
    hooks.answer({ ok: false, status: response.status, mime, code: "mime_unsupported", params: { mime }, detail: mime });
    response.body.cancel().catch(() => {});
    return;
  }
  hooks.answer({ ok: true, status: response.status, mime, code: "", params: {}, detail: "" });
  const ms = new Source();
  const opened = new Promise((resolve) => ms.addEventListener("sourceopen", resolve, { once: true }));
  hooks.attach(ms);
  await opened;
  const buffer = ms.addSourceBuffer(mime);
  await pump(response.body.getReader(), buffer, signal, hooks);
  if (ms.readyState === "open" && !buffer.updating) {
    try {
      ms.endOfStream();
    } catch {
      // already ended or detached: nothing to close
    }
  }
}

/**
 * Read the body and append it in order; older played video is removed now and then.
 * @param {ReadableStreamDefaultReader<Uint8Array>} reader
 * @param {SourceBuffer} buffer
 * @param {AbortSignal} signal
 * @param {FeedHooks} hooks
 */
async function pump(reader, buffer, signal, hooks) {
  /** @type {Uint8Array<ArrayBuffer>[]} */
  const queue = [];
  let queued = 0;
  let received = 0;
  let lastTrim = 0;
  const next = () => {
    if (buffer.updating || !queue.length) return;
    const playhead = hooks.playhead();
    const ranges = buffer.buffered;
    // remove what lies well behind the play position, at most once every few seconds
    if (ranges.length && playhead - ranges.start(0) > KEEP_BEHIND_S * 2 && performance.now() - lastTrim > 5000) {
      lastTrim = performance.now();
      buffer.remove(0, playhead - KEEP_BEHIND_S);
      return;
    }
    const chunk = /** @type {Uint8Array<ArrayBuffer>} */ (queue.shift());
    queued -= chunk.byteLength;
    try {
      buffer.appendBuffer(chunk);
    } catch (err) {
      hooks.end(`append: ${String(err)}`);
      reader.cancel().catch(() => {});
    }
  };
  buffer.addEventListener("updateend", next);
  signal.addEventListener("abort", () => reader.cancel().catch(() => {}), { once: true });
  for (;;) {
    let step;
    try {
      step = await reader.read();
    } catch (err) {
      hooks.end(signal.aborted ? "" : `read: ${String(err)}`);
      return;
    }
    if (step.done) {
      hooks.end("");
      return;
    }
    received += step.value.byteLength;
    queue.push(/** @type {Uint8Array<ArrayBuffer>} */ (step.value));
    queued += step.value.byteLength;
    hooks.progress(received);
    if (queued > MAX_QUEUED) {
      hooks.end("stalled");
      reader.cancel().catch(() => {});
      return;
    }
    next();
  }
}
