// @ts-check
// The login page (its language is the one last used in this browser, zh-CN at first).

import { api, errorText, statusOf } from "../core/api.js";
import { fill, h } from "../core/dom.js";
import { LANGUAGES, lang, setLanguage, t } from "../core/i18n.js";

/**
 * GET /api/auth/me until the new session answers. The server may send the login's answer a
 * moment before the session is committed; the first request after it can then see none.
 * @param {number} [tries] at 100 ms apart
 * @returns {Promise<import("../core/types.js").User>}
 */
async function sessionReady(tries = 30) {
  for (let i = 1; ; i += 1) {
    try {
      return await api("/api/auth/me");
    } catch (err) {
      if (statusOf(err) !== 401 || i >= tries) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/**
 * The login form; onSignedIn gets the signed-in user.
 * @param {(user: import("../core/types.js").User) => Promise<void>} onSignedIn
 */
export function loginView(onSignedIn) {
  const wrap = h("main", { class: "login", id: "main" });
  const render = () => {
    const error = h("p", { class: "error", role: "alert", id: "login-error" });
    const user = h("input", { id: "username", name: "username", autocomplete: "username", required: true });
    const pass = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
    const submit = h("button", { type: "submit", class: "primary", text: t("login.submit") });
    const form = h(
      "form",
      { class: "card", "aria-labelledby": "login-title" },
      h("h1", { id: "login-title", text: t("login.title") }),
      h("p", { class: "muted", text: t("login.subtitle") }),
      h("label", { for: "username", text: t("login.username") }),
      user,
      h("label", { for: "password", text: t("login.password") }),
      pass,
      submit,
      error,
      h(
        "div",
        { class: "login-lang" },
        LANGUAGES.map((l) =>
          h("button", {
            type: "button",
            class: "link",
            "aria-pressed": String(l.code === lang()),
            text: l.label,
            onclick: async () => {
              await setLanguage(l.code);
              render();
            },
          }),
        ),
      ),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      submit.disabled = true;
      error.textContent = "";
      try {
        await api("/api/auth/login", {
          method: "POST",
          body: { username: user.value.trim(), password: pass.value },
        });
        await onSignedIn(await sessionReady());
      } catch (err) {
        const status = statusOf(err);
        error.textContent = status === 401 ? t("login.wrong") : status === 429 ? t("login.wait", { detail: errorText(err) }) : errorText(err);
        submit.disabled = false;
        pass.select();
      }
    });
    fill(wrap, form);
    user.focus();
  };
  render();
  return wrap;
}
