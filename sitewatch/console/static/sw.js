// @ts-check
// The console's service worker (scope "/", registered by js/widgets/browser_notify.js): shows
// a Web Push message as a notification while no console tab needs to be open, and a click on
// it focuses a console tab on the alert or incident (or opens one). The push's data is the
// JSON of sitewatch/console/notify/webpush.py: {title, body, tag, url, alerts}; the tag
// replaces a resent message's notification instead of adding a second one.

const sw = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));

/**
 * @typedef {{title: string, body: string, tag: string, url: string, alerts?: string[]}} PushData
 */

/**
 * What a push says; a push without JSON still shows that something arrived.
 * @param {PushMessageData | null} data
 * @returns {PushData}
 */
function readPush(data) {
  /** @type {Partial<PushData>} */
  let parsed = {};
  try {
    parsed = data ? data.json() : {};
  } catch {
    parsed = { body: data ? data.text() : "" };
  }
  return {
    title: parsed.title || "SiteWatch",
    body: parsed.body || "",
    tag: parsed.tag || "sitewatch",
    url: typeof parsed.url === "string" && parsed.url.startsWith("/") ? parsed.url : "/",
    alerts: parsed.alerts || [],
  };
}

sw.addEventListener("install", () => {
  sw.skipWaiting();
});

sw.addEventListener("activate", (event) => {
  event.waitUntil(sw.clients.claim()); // the open tabs get the click's focus at once
});

sw.addEventListener("push", (event) => {
  const push = readPush(event.data);
  event.waitUntil(
    sw.registration.showNotification(push.title, {
      body: push.body,
      tag: push.tag,
      icon: "/favicon.svg",
      data: { url: push.url },
    }),
  );
});

/** @param {string} url a path of the console ("/#/alert/<id>") */
async function focusConsole(url) {
  const tabs = await sw.clients.matchAll({ type: "window", includeUncontrolled: true });
  const tab = tabs.find((c) => new URL(c.url).origin === sw.location.origin);
  if (tab) {
    tab.postMessage({ type: "sitewatch.open", url }); // the page follows its hash
    await tab.focus();
    return;
  }
  await sw.clients.openWindow(url);
}

sw.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = /** @type {{url?: string}} */ (event.notification.data || {}).url || "/";
  event.waitUntil(focusConsole(url));
});
