// @ts-check
// Dedicated module worker of one live player (video_player.js): feeds the stream into a
// MediaSource built here and hands its handle to the page, which sets it as the <video>'s
// srcObject (no blob: URL). Messages in: {type: "start", url}, {type: "stop"},
// {type: "playhead", t}. Messages out: {type: "answer", answer}, {type: "handle", handle},
// {type: "progress", bytes}, {type: "end", why}.

import { feed } from "./mse_feed.js";

const scope = /** @type {{postMessage: (data: unknown, transfer?: Transferable[]) => void, onmessage: ((e: MessageEvent) => void) | null}} */ (
  /** @type {unknown} */ (globalThis)
);
const stop = new AbortController();
let playhead = NaN;

/** @param {MessageEvent} event */
scope.onmessage = (event) => {
  const data = event.data || {};
  if (data.type === "stop") stop.abort();
  else if (data.type === "playhead") playhead = Number(data.t);
  else if (data.type === "start") {
    feed(String(data.url), stop.signal, {
      answer: (answer) => scope.postMessage({ type: "answer", answer }),
      attach: (ms) => {
        const handle = /** @type {any} */ (ms).handle;
        scope.postMessage({ type: "handle", handle }, [handle]);
      },
      progress: (bytes) => scope.postMessage({ type: "progress", bytes }),
      end: (why) => scope.postMessage({ type: "end", why }),
      playhead: () => playhead,
    });
  }
};
