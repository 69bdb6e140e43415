/* What the search page (app.js) and the report view (doc.js) share: building elements from text, the access
 * token, and the API call that sends it. Loaded before either page's own script; it defines one global,
 * `PipelineCommon`. Vanilla JS, no build step, no inline script (the pages' Content-Security-Policy).
 *
 * Safety: el() turns every string into a text node; nothing here assigns to innerHTML.
 */
window.PipelineCommon = (() => {
  "use strict";

  const $ = (sel, root = document) => root.querySelector(sel);

  /** An element with attributes and children; strings become text nodes (never parsed as HTML). */
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === "class") e.className = v;
        else if (k === "text") e.textContent = v;
        else if (k === "dataset") Object.assign(e.dataset, v);
        else if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v === true ? "" : String(v));
      }
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  /** A function mapping a code-point offset (as Python counts) to a UTF-16 offset (as JS strings count). */
  function cpToUnit(text) {
    if (!/[\ud800-\udfff]/.test(text)) return (i) => i;
    const map = [];
    let u = 0;
    for (const ch of text) {
      map.push(u);
      u += ch.length;
    }
    map.push(u);
    return (i) => map[Math.max(0, Math.min(i, map.length - 1))];
  }

  // --- the access token (sessionStorage["pipeline.token"], else memory) --------------------------------------

  const TOKEN_KEY = "pipeline.token";
  let memoryToken = null;

  function getToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || memoryToken;
    } catch (e) {
      return memoryToken;
    }
  }

  function setToken(v) {
    memoryToken = v;
    try {
      sessionStorage.setItem(TOKEN_KEY, v);
    } catch (e) { /* storage refused: keep it in memory */ }
  }

  let tokenWait = null;

  /** Show the page's token form (#token-form, #token-input, #token-why); resolves when a token has been
   * entered. One prompt serves every waiting call. */
  function askToken(why) {
    if (tokenWait) return tokenWait;
    const form = $("#token-form");
    const input = $("#token-input");
    $("#token-why").textContent = why;
    form.hidden = false;
    input.value = "";
    input.focus();
    tokenWait = new Promise((resolve) => {
      const submit = (ev) => {
        ev.preventDefault();
        const v = input.value.trim();
        if (!v) return;
        setToken(v);
        form.hidden = true;
        form.removeEventListener("submit", submit);
        tokenWait = null;
        resolve();
      };
      form.addEventListener("submit", submit);
    });
    return tokenWait;
  }

  // --- the API -----------------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  /** The server's message of a non-2xx answer: its JSON `error` (or FastAPI's `detail`), else the status. */
  async function errorMessage(res) {
    let body = null;
    try {
      body = await res.json();
    } catch (e) { /* not JSON */ }
    if (body && typeof body.error === "string") return body.error;
    if (body && body.detail !== undefined) {
      const d = body.detail;
      if (typeof d === "string") return d;
      if (Array.isArray(d)) return d.map((x) => (x && x.msg ? `${(x.loc || []).join(".")}: ${x.msg}` : String(x))).join("; ");
    }
    return `${res.status} ${res.statusText || "error"}`;
  }

  /** fetch() with the token; on a 401 asks for a token and tries again; a non-2xx answer throws ApiError. The
   * page's own words come from `say`: say.unreachable(reason), say.needed(), say.refused(). */
  function makeApi(say) {
    return async function api(path, opts = {}) {
      for (;;) {
        const headers = new Headers(opts.headers || {});
        const token = getToken();
        if (token) headers.set("Authorization", `Bearer ${token}`);
        let res;
        try {
          res = await fetch(path, { ...opts, headers });
        } catch (e) {
          if (e && e.name === "AbortError") throw e;
          throw new ApiError(say.unreachable(e && e.message ? e.message : e), 0);
        }
        if (res.status === 401) {
          await askToken(token ? say.refused() : say.needed());
          continue;
        }
        if (!res.ok) throw new ApiError(await errorMessage(res), res.status);
        return res;
      }
    };
  }

  /** A click handler for links to an original file (a PDF): while the page holds an access token a new tab
   * cannot send it (the server takes it from a header only), so the file is fetched with it through `api`
   * and shown from a blob URL; without a token (or with a modifier key) the link is followed as it is.
   * `failed(message)` tells the reader when the fetch fails. */
  function makeOpenWithToken(api, failed) {
    return async function openWithToken(ev) {
      if (!getToken() || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
      ev.preventDefault();
      const url = new URL(ev.currentTarget.href, location.href);
      const tab = window.open("about:blank", "_blank"); // opened in the click: one opened after a fetch is a pop-up
      try {
        const file = URL.createObjectURL(await (await api(url.pathname)).blob());
        if (tab && !tab.closed) {
          tab.opener = null;
          tab.location.replace(file + url.hash);
        } else {
          location.assign(file + url.hash);
        }
        setTimeout(() => URL.revokeObjectURL(file), 120000);
      } catch (e) {
        if (tab) tab.close();
        failed(e && e.message ? e.message : e);
      }
    };
  }

  return { $, el, cpToUnit, getToken, setToken, askToken, ApiError, errorMessage, makeApi, makeOpenWithToken };
})();
