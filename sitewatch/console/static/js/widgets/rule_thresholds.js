// @ts-check
// The zone editor's rule thresholds: one fieldset per rule the edge reported (enabled,
// min_score 0..1, dwell_s and cooldown_s in seconds), edited in place, and the part of them
// that differs from what the edge has (what a save sends).

import { h } from "../core/dom.js";
import { t, tv } from "../core/i18n.js";

/** @typedef {import("../core/types.js").RuleThresholds} RuleThresholds */

const THRESHOLDS = ["enabled", "min_score", "dwell_s", "cooldown_s"];

/**
 * A number field's limits for threshold `k`.
 * @param {string} k
 */
function limitsOf(k) {
  if (k === "min_score") return { min: 0, max: 1, step: 0.01 };
  if (k === "dwell_s") return { min: 0, max: 600, step: 0.5 };
  return { min: 0, max: 86400, step: 1 };
}

/**
 * The forms for `rules`, which they edit in place (onEdit after each change); null for none.
 * @param {RuleThresholds} rules
 * @param {() => void} onEdit
 */
export function thresholdForms(rules, onEdit) {
  const sections = Object.entries(rules).map(([rule, values]) => {
    const fields = THRESHOLDS.filter((k) => k in values).map((k) => {
      const id = `rule-${rule}-${k}`;
      const value = values[k];
      if (typeof value === "boolean") {
        const box = h("input", { id, type: "checkbox", checked: value });
        box.addEventListener("change", () => {
          values[k] = box.checked;
          onEdit();
        });
        return h("div", { class: "field inline" }, box, h("label", { for: id, text: t(`threshold.${k}`) }));
      }
      const input = h("input", { id, type: "number", value, ...limitsOf(k) });
      input.addEventListener("change", () => {
        const v = Number(input.value);
        if (input.value !== "" && Number.isFinite(v)) values[k] = v;
        onEdit();
      });
      return h("div", { class: "field" }, h("label", { for: id, text: t(`threshold.${k}`) }), input);
    });
    return h("fieldset", { class: "rule-form" }, h("legend", { text: tv("rule", rule) }), fields);
  });
  return sections.length ? [h("h2", { text: t("zones.thresholds") }), sections] : null;
}

/**
 * The thresholds in `rules` that differ from `before` (rule -> changed values), or null.
 * @param {RuleThresholds} rules
 * @param {RuleThresholds} before
 * @returns {RuleThresholds | null}
 */
export function changedRules(rules, before) {
  /** @type {RuleThresholds} */
  const out = {};
  for (const [rule, values] of Object.entries(rules)) {
    const was = before[rule] || {};
    for (const [k, value] of Object.entries(values)) {
      if (THRESHOLDS.includes(k) && value !== was[k]) (out[rule] ||= {})[k] = value;
    }
  }
  return Object.keys(out).length ? out : null;
}
