// @ts-check
// The time cells of a list with rows from several sites (the alert feed, the audit log).

import { h } from "../core/dom.js";
import { fmtTime, siteZone, tzLabel } from "../core/i18n.js";

/** @typedef {ReturnType<typeof siteTimes>} SiteTimes */

/**
 * Times of rows from several sites (the feed, the audit log): each in its site's zone
 * (siteZone: this browser's while the edge has not reported one; a row without a site: this
 * browser's), the zone named in the time's tooltip. `named`: the listed sites are not all in
 * this browser's zone, so each time also shows its short offset ("UTC+8") beside it.
 * @param {import("../core/types.js").Ctx} ctx
 * @param {string} [siteFilter] only this site's zone counts ("": every site's)
 * @param {boolean} [always] show the offset beside every time even when all zones agree
 */
export function siteTimes(ctx, siteFilter = "", always = false) {
  const here = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const sites = ctx.sites.filter((s) => !siteFilter || s.id === siteFilter);
  const named = always || sites.some((s) => (siteZone(ctx, s.id) || here) !== here);
  /**
   * @param {string | null} siteId
   * @param {string} iso
   */
  const time = (siteId, iso) => {
    const zone = siteId ? siteZone(ctx, siteId) : undefined;
    const label = tzLabel(zone, iso || undefined);
    return [
      h("time", { datetime: iso, title: label, text: fmtTime(iso, zone) }),
      named && h("span", { class: "muted small tz-offset", title: label, text: ` ${label.split(", ").at(-1)}` }),
    ];
  };
  return { named, time };
}
