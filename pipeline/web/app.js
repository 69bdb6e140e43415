/* The library search page: search, paragraph view, citation lists, batch upload. Vanilla JS, no build step.
 *
 * Routes (decided here from location.pathname + search; the server serves index.html for all of them):
 *   /?q=…&mode=…[&k=…][&doc=SYMBOL…][&lang=xx][&parallel=1]   search results
 *   /p/N?doc=SYMBOL&lang=xx[&part=annex]   one paragraph of one document version (/p/N alone when only one
 *                                          document has a paragraph N: a library of one report)
 *   /cite?q=KEY           every paragraph citing   /batch      upload a file of questions
 *
 * The library (GET /api/documents) decides what the page offers: with more than one document or language the
 * search form gets a document and a language selector (and "parallel versions" when a document has several
 * language versions). Every result names its document with its UN-style citation (hit.citation).
 *
 * Safety: server and user text only ever reaches the page through textContent / text nodes (el() below);
 * nothing is assigned to innerHTML.
 */
(() => {
  "use strict";

  // --- small helpers -------------------------------------------------------------------------------------

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

  const HAN = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[\ud840-\ud87f][\udc00-\udfff]/;
  const ZH = "zh-Hans";
  const MODES = ["hybrid", "lexical", "dense"];

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

  // Only syntax characters are escaped: a "u" regular expression refuses other identity escapes.
  const escapeRe = (s) => s.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");

  // --- state and page parts ------------------------------------------------------------------------------

  const view = () => $("#view");
  const statusEl = () => $("#status");
  let navSeq = 0; // increases on every navigation; a response for an older one is dropped

  function setStatus(text) {
    statusEl().textContent = text || "";
  }

  function showError(err, where = view()) {
    const msg = err && err.message ? err.message : String(err);
    where.append(el("p", { class: "error", role: "alert" }, msg));
    setStatus("");
  }

  // --- the access token ----------------------------------------------------------------------------------

  const TOKEN_KEY = "pipeline.token";
  let memoryToken = null;

  function getToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || memoryToken;
    } catch (e) {
      return memoryToken;
    }
  }

  function setToken(t) {
    memoryToken = t;
    try {
      sessionStorage.setItem(TOKEN_KEY, t);
    } catch (e) { /* storage refused: keep it in memory */ }
  }

  /** Take `#token=…` from the URL into sessionStorage, and out of the address bar. */
  function tokenFromHash() {
    const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    if (!m) return;
    let t = m[1];
    try {
      t = decodeURIComponent(t);
    } catch (e) { /* keep as is */ }
    if (t) setToken(t);
    history.replaceState(history.state, "", location.pathname + location.search);
  }

  let tokenWait = null;

  /** Show the token form; resolves when a token has been entered. One prompt serves every waiting call. */
  function askToken(why) {
    if (tokenWait) return tokenWait;
    const form = $("#token-form");
    const input = $("#token-input");
    $("#token-why").textContent = why;
    form.hidden = false;
    input.value = "";
    input.focus();
    tokenWait = new Promise((resolve) => {
      form.onsubmit = (ev) => {
        ev.preventDefault();
        const t = input.value.trim();
        if (!t) return;
        setToken(t);
        form.hidden = true;
        form.onsubmit = null;
        tokenWait = null;
        resolve();
      };
    });
    return tokenWait;
  }

  // --- the API -------------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

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

  /** fetch() with the token; on a 401 asks for a token and tries again; a non-2xx answer throws ApiError. */
  async function api(path, opts = {}) {
    for (;;) {
      const headers = new Headers(opts.headers || {});
      const token = getToken();
      if (token) headers.set("Authorization", `Bearer ${token}`);
      let res;
      try {
        res = await fetch(path, { ...opts, headers });
      } catch (e) {
        if (e && e.name === "AbortError") throw e;
        throw new ApiError(`Cannot reach the server (${e && e.message ? e.message : e}).`, 0);
      }
      if (res.status === 401) {
        await askToken(token ? "The server refused this token. Enter the access token:" : "This server needs an access token.");
        continue;
      }
      if (!res.ok) throw new ApiError(await errorMessage(res), res.status);
      return res;
    }
  }

  const getJSON = async (path, opts) => (await api(path, opts)).json();

  /** The library as /api/documents lists it, with lookups; one request per page load. */
  let libraryPromise = null;
  function library() {
    if (!libraryPromise) {
      libraryPromise = getJSON("/api/documents").then((d) => makeLibrary(d && Array.isArray(d.documents) ? d.documents : []))
        .catch((e) => {
          libraryPromise = null;
          throw e;
        });
    }
    return libraryPromise;
  }

  /** The library, or null when it cannot be had (the page then works without selectors and ranges). */
  const libraryOrNull = () => library().catch(() => null);

  function makeLibrary(docs) {
    const symbols = [...new Set(docs.map((d) => String(d.symbol)))];
    const langs = [...new Set(docs.map((d) => String(d.lang)))];
    const versions = (symbol) => docs.filter((d) => d.symbol === symbol);
    const range = (doc, part = "") => (doc && Array.isArray(doc.ranges) ? doc.ranges.find((r) => (r.part || "") === (part || "")) : null) || null;
    return {
      docs,
      symbols,
      langs,
      /** More than one document or language: the search form offers selectors. */
      multi: symbols.length > 1 || langs.length > 1,
      /** Some document has several language versions: "parallel versions" makes sense. */
      hasVersions: symbols.some((s) => versions(s).length > 1),
      versions,
      range,
      /** The version of `symbol` in `lang` (the first version when `lang` is empty or absent). */
      find(symbol, lang) {
        const want = String(symbol || "").replace(/\s+/g, "").toUpperCase();
        const all = docs.filter((d) => String(d.symbol).replace(/\s+/g, "").toUpperCase() === want);
        return all.find((d) => d.lang === lang) || (lang ? null : all[0]) || null;
      },
      /** The versions that have paragraph `n` of `part`. */
      having(n, part = "", list = docs) {
        return list.filter((d) => {
          const r = range(d, part);
          return r && n >= r.first && n <= r.last;
        });
      },
    };
  }

  const LANG_NAMES = { zh: "中文", en: "English", fr: "Français", es: "Español", ru: "Русский", ar: "العربية" };
  const langName = (l) => LANG_NAMES[l] || l;
  /** The value of a lang attribute for text in a document version's language. */
  const htmlLang = (l) => (l === "zh" ? ZH : l || null);

  /** The URL of paragraph `n` of one document version (and annex). */
  function paragraphHref(symbol, lang, n, part) {
    const params = new URLSearchParams();
    if (symbol) params.set("doc", symbol);
    if (lang) params.set("lang", lang);
    if (part) params.set("part", part);
    const qs = params.toString();
    return `/p/${n}${qs ? `?${qs}` : ""}`;
  }

  /** A UN-style paragraph citation, as pipeline.corpus.cite_paragraph writes it: "CTOC/COP/2012/7, para. 23"
   * ("…, annex, para. 3"), or in the Chinese style "CTOC/COP/2012/7，第23段" ("…，附件，第3段"). */
  function citeParagraph(symbol, n, style, part = "") {
    if (style === "zh") {
      let where = "";
      if (part) {
        const i = part.indexOf(" ");
        const head = i < 0 ? part : part.slice(0, i);
        where = `${head === "annex" ? "附件" : head}${i < 0 ? "" : part.slice(i + 1)}，`;
      }
      const c = `${where}第${n}段`;
      return symbol ? `${symbol}，${c}` : c;
    }
    const c = `${part ? `${part}, ` : ""}para. ${n}`;
    return symbol ? `${symbol}, ${c}` : c;
  }

  /** Where a link to a document of the library goes: its first paragraph (in `lang` when it has that
   * version), else the list of paragraphs citing it. */
  function documentHref(lib, symbol, lang) {
    const doc = lib ? (lib.find(symbol, lang) || lib.find(symbol)) : null;
    if (doc) {
      const r = lib.range(doc, "") || (doc.ranges || [])[0];
      if (r) return paragraphHref(doc.symbol, doc.lang, r.first, r.part || "");
    }
    return `/cite?${new URLSearchParams({ q: symbol })}`;
  }

  /** The path of the file a document version was added as (`ext`: "pdf", "docx" or "doc"), each segment of
   * the symbol percent-encoded: /doc/CTOC/COP/2012/7/en.pdf. */
  function originalHref(symbol, lang, ext) {
    return `/doc/${String(symbol).split("/").map(encodeURIComponent).join("/")}/${encodeURIComponent(lang)}.${ext}`;
  }

  /** A link to page `page` of the PDF a document version was added as ("p. 4", "第 4 页"), opening in a new
   * tab; null when the page is unknown or the version has no PDF (added as text or Word). `citation` names
   * the paragraph in the link's accessible name. */
  function pageLink(lib, symbol, lang, page, citation) {
    const n = Number(page);
    const doc = lib && Number.isInteger(n) && n > 0 ? lib.find(symbol, lang) : null;
    if (!doc || doc.format !== "pdf" || !doc.original) return null;
    const zh = doc.lang === "zh";
    return el("a", {
      class: "page-link",
      href: `${originalHref(doc.symbol, doc.lang, "pdf")}#page=${n}`,
      target: "_blank",
      rel: "noopener",
      dataset: { page: String(n) },
      "aria-label": `${citation}: page ${n} of the PDF (opens in a new tab)`,
      onclick: openWithToken,
    }, el("span", { lang: zh ? ZH : "en" }, zh ? `第 ${n} 页` : `p. ${n}`));
  }

  /** A click on a link to an original while the page holds an access token: a new tab cannot send the token
   * (the server takes it from a header only), so the file is fetched with it and shown from a blob URL.
   * Without a token (or with a modifier key) the link is followed as it is. */
  async function openWithToken(ev) {
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
      setStatus(`Cannot open the PDF: ${e && e.message ? e.message : e}`);
    }
  }

  /** The library filters of a URL's parameters: {docs, lang, parallel}. */
  function filtersOf(params) {
    return {
      docs: params.getAll("doc").map((d) => d.trim()).filter(Boolean),
      lang: (params.get("lang") || "").trim(),
      parallel: /^(1|true|on|yes)$/i.test(params.get("parallel") || ""),
    };
  }

  /** Add the filters to URL parameters (the page's and the API's). */
  function addFilters(params, f, api = false) {
    for (const d of f.docs || []) params.append("doc", d);
    if (f.lang) params.set("lang", f.lang);
    if (f.parallel) params.set("parallel", api ? "true" : "1");
    return params;
  }

  const glossCache = new Map();
  /** The words of `text` with their glosses (one request per distinct text), or null when unavailable. */
  function gloss(text) {
    if (!glossCache.has(text)) {
      const p = getJSON(`/api/gloss?text=${encodeURIComponent(text)}`)
        .then((d) => {
          const words = (d && Array.isArray(d.words)) ? d.words : null;
          // Use the words only if they give back the text exactly: else offsets would not line up.
          if (!words || words.map((w) => w.text).join("") !== text) return null;
          return words;
        })
        .catch(() => {
          glossCache.delete(text);
          return null;
        });
      glossCache.set(text, p);
    }
    return glossCache.get(text);
  }

  // --- rich text: highlights, term marks, citation links, glossed words -----------------------------------
  //
  // A text is rendered from layers of ranges, outermost first (answer highlight, citation marks or links,
  // term marks, word spans). Each range becomes one element around whatever the inner layers make of its
  // text; an inner range that crosses an outer range's edge is cut in two, so every highlight survives.

  /** Sorted, non-overlapping ranges (overlaps merged). */
  function mergeRanges(ranges, make) {
    const sorted = ranges.filter((r) => r.end > r.start).sort((a, b) => a.start - b.start || b.end - a.end);
    const out = [];
    for (const r of sorted) {
      const last = out[out.length - 1];
      if (last && r.start < last.end) last.end = Math.max(last.end, r.end);
      else out.push({ start: r.start, end: r.end, make: r.make || make });
    }
    return out;
  }

  function buildRange(text, s, e, layers, li) {
    const frag = document.createDocumentFragment();
    if (li >= layers.length) {
      if (e > s) frag.append(document.createTextNode(text.slice(s, e)));
      return frag;
    }
    let pos = s;
    for (const r of layers[li]) {
      const rs = Math.max(r.start, s);
      const re = Math.min(r.end, e);
      if (re <= rs) continue;
      if (rs > pos) frag.append(buildRange(text, pos, rs, layers, li + 1));
      const node = r.make();
      node.append(buildRange(text, rs, re, layers, li + 1));
      frag.append(node);
      pos = re;
    }
    if (pos < e) frag.append(buildRange(text, pos, e, layers, li + 1));
    return frag;
  }

  /** Fill `container` with `text` rendered through `layers`; `inserts` ({at, make}) are placed between
   * characters (footnote markers) and cut every range they fall in. */
  function renderRich(container, text, layers, inserts = []) {
    const frag = document.createDocumentFragment();
    const points = inserts.filter((x) => x.at >= 0 && x.at <= text.length).sort((a, b) => a.at - b.at);
    let pos = 0;
    for (const ins of points) {
      frag.append(buildRange(text, pos, ins.at, layers, 0));
      frag.append(ins.make());
      pos = ins.at;
    }
    frag.append(buildRange(text, pos, text.length, layers, 0));
    container.replaceChildren(frag);
  }

  const answerMark = () => el("mark", { class: "hl" });
  const termMark = () => el("mark", { class: "term" });
  const citeMark = () => el("mark", { class: "cite-hit" });

  /** Where the query's matched terms stand in `text`: Chinese terms as substrings, numbers as whole numbers,
   * Latin stems as the start of a word (the whole word is marked), case-insensitively. */
  function termRanges(text, terms) {
    const ranges = [];
    for (const raw of terms || []) {
      const t = typeof raw === "string" ? raw.trim() : "";
      if (!t) continue;
      let re;
      try {
        if (HAN.test(t)) re = new RegExp(escapeRe(t), "gu");
        else if (/^[0-9][0-9.,]*$/.test(t)) re = new RegExp(`(?<![0-9])${escapeRe(t)}(?![0-9])`, "gu");
        else re = new RegExp(`(?<![\\p{L}\\p{N}])${escapeRe(t)}[\\p{L}\\p{M}]*`, "giu");
      } catch (e) {
        continue;
      }
      for (const m of text.matchAll(re)) {
        if (m[0].length) ranges.push({ start: m.index, end: m.index + m[0].length });
      }
    }
    return mergeRanges(ranges, termMark);
  }

  /** Word spans from /api/gloss words: every Chinese word carries its glosses in data-gloss. */
  function wordRanges(words, offset = 0, length = Infinity) {
    const out = [];
    let pos = 0;
    for (const w of words) {
      const t = String(w.text);
      const start = pos - offset;
      pos += t.length;
      if (start + t.length <= 0 || start >= length || !HAN.test(t)) continue;
      const glosses = [...new Set((Array.isArray(w.gloss) ? w.gloss : []).map((g) => String(g).replace(/\s+/g, " ").trim()).filter(Boolean))];
      out.push({
        start,
        end: start + t.length,
        make: () => el("span", { class: "w", dataset: { gloss: glosses.join("; "), word: t } }),
      });
    }
    return out;
  }

  /** Start offset of each "(x) " item line of a hit's full text (text, then one item per line). */
  function itemOffsets(fullText) {
    const out = {};
    let pos = 0;
    fullText.split("\n").forEach((line, i) => {
      const m = i > 0 ? /^\(([^)\s]+)\) /.exec(line) : null;
      if (m && !(m[1] in out)) out[m[1]] = pos + m[0].length;
      pos += line.length + 1;
    });
    return out;
  }

  // --- the gloss tooltip ---------------------------------------------------------------------------------

  let tipFor = null; // the word the tooltip shows
  let tipPinned = false; // opened by a click or tap: stays until another click

  function showTip(word, pinned) {
    const tip = $("#gloss-tip");
    const glossText = word.dataset.gloss || "";
    tip.replaceChildren(
      el("span", { class: "tip-word", lang: ZH }, word.dataset.word || word.textContent),
      glossText ? el("span", { class: "tip-gloss", lang: "en" }, glossText) : el("span", { class: "tip-none" }, "not in CC-CEDICT"),
    );
    tip.hidden = false;
    if (tipFor && tipFor !== word) {
      tipFor.classList.remove("tip-on");
      tipFor.removeAttribute("aria-describedby");
    }
    tipFor = word;
    tipPinned = pinned;
    word.classList.add("tip-on");
    word.setAttribute("aria-describedby", "gloss-tip");
    const r = word.getBoundingClientRect();
    const docW = document.documentElement.clientWidth;
    const w = tip.offsetWidth;
    const h = tip.offsetHeight;
    let left = r.left + window.scrollX;
    left = Math.max(window.scrollX + 4, Math.min(left, window.scrollX + docW - w - 4));
    let top = r.bottom + window.scrollY + 6;
    if (r.bottom + h + 10 > window.innerHeight && r.top - h - 6 > 0) top = r.top + window.scrollY - h - 6;
    tip.style.left = `${left}px`;
    tip.style.top = `${top}px`;
  }

  function hideTip() {
    const tip = $("#gloss-tip");
    if (tip) tip.hidden = true;
    if (tipFor) {
      tipFor.classList.remove("tip-on");
      tipFor.removeAttribute("aria-describedby");
    }
    tipFor = null;
    tipPinned = false;
  }

  const wordAt = (target) => (target && target.closest ? target.closest("[data-gloss]") : null);

  function initTooltip() {
    document.addEventListener("mouseover", (ev) => {
      const w = wordAt(ev.target);
      if (w && !tipPinned) showTip(w, false);
    });
    document.addEventListener("mouseout", (ev) => {
      const w = wordAt(ev.target);
      if (w && !tipPinned && w === tipFor && !w.contains(ev.relatedTarget)) hideTip();
    });
    document.addEventListener("click", (ev) => {
      const w = wordAt(ev.target);
      if (w) {
        if (tipPinned && tipFor === w) hideTip();
        else showTip(w, true);
      } else if (tipFor) {
        hideTip();
      }
    });
    document.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" && tipFor) hideTip();
    });
    window.addEventListener("resize", () => hideTip());
  }

  // --- copying a citation --------------------------------------------------------------------------------

  function legacyCopy(text) {
    const active = document.activeElement;
    const ta = el("textarea", { readonly: true, "aria-hidden": "true", tabindex: "-1", class: "copy-helper" });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (e) {
      ok = false;
    }
    ta.remove();
    if (active && active.focus) active.focus();
    return ok;
  }

  async function copyText(text) {
    let ok = false;
    if (navigator.clipboard && window.isSecureContext) {
      try {
        // A browser that waits for a permission prompt must not leave the button hanging.
        await Promise.race([
          navigator.clipboard.writeText(text),
          new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), 1500)),
        ]);
        ok = true;
      } catch (e) {
        ok = false;
      }
    }
    if (!ok) ok = legacyCopy(text);
    if (ok) document.body.dataset.lastCopied = text;
    return ok;
  }

  /** "Copy citation" buttons (English and Chinese UN style) for paragraph `n` (of `part`) of the document
   * `symbol`: the citation names the paragraph's own document. */
  function copyActions({ symbol, n, part = "" }, ...extra) {
    const note = el("span", { class: "copied", role: "status", "aria-live": "polite" });
    let timer = null;
    const where = citeParagraph(symbol, n, "en", part);
    const button = (label, lang, style, aria) => el("button", {
      type: "button",
      class: "plain copy-cite",
      lang,
      dataset: Object.assign({ lang: style, paragraph: String(n), document: symbol || "" }, part ? { part } : {}),
      "aria-label": aria,
      onclick: async () => {
        const text = citeParagraph(symbol, n, style, part);
        const ok = await copyText(text);
        note.textContent = ok ? `copied: ${text}` : `copy failed — select and copy: ${text}`;
        clearTimeout(timer);
        if (ok) timer = setTimeout(() => { note.textContent = ""; }, 4000);
      },
    }, label);
    return el("div", { class: "actions" },
      button("Copy citation", "en", "en", `Copy the citation ${where} (English)`),
      button("复制引文", ZH, "zh", `Copy the citation ${where} (Chinese)`),
      ...extra,
      note);
  }

  // --- navigation ----------------------------------------------------------------------------------------

  const ROUTE = /^\/(?:$|index\.html$|p\/\d+\/?$|cite\/?$|batch\/?$)/;

  let focusAfter = false; // a followed link moves focus (and the view) to the new page's heading

  function navigate(url, replace = false, focus = false) {
    const target = new URL(url, location.href);
    focusAfter = focus;
    const same = target.pathname + target.search === location.pathname + location.search;
    if (replace || same) history.replaceState(null, "", target.pathname + target.search + target.hash);
    else history.pushState(null, "", target.pathname + target.search + target.hash);
    route();
  }

  function initLinks() {
    document.addEventListener("click", (ev) => {
      if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
      const a = ev.target.closest ? ev.target.closest("a[href]") : null;
      if (!a || a.hasAttribute("download") || (a.target && a.target !== "_self")) return;
      const url = new URL(a.href, location.href);
      if (url.origin !== location.origin || !ROUTE.test(url.pathname)) return;
      if (url.pathname === location.pathname && url.search === location.search && url.hash) return; // in-page anchor
      ev.preventDefault();
      navigate(url.href, false, true);
    });
    window.addEventListener("popstate", () => {
      focusAfter = false;
      route();
    });
  }

  function initKeys() {
    document.addEventListener("keydown", (ev) => {
      if (ev.key !== "/" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      const t = ev.target;
      const typing = t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
      if (typing) return;
      ev.preventDefault();
      const q = $("#q");
      q.focus();
      q.select();
    });
  }

  /** The search form's library filters as they stand: {docs, lang, parallel}. */
  function formFilters() {
    const doc = $("#doc").value;
    return {
      docs: doc ? [doc] : [],
      lang: $("#lang").value,
      parallel: $("#parallel").checked && !$("#parallel-field").hidden,
    };
  }

  function searchUrl(q) {
    return `/?${addFilters(new URLSearchParams({ q, mode: $("#mode").value }), formFilters())}`;
  }

  function initSearchForm() {
    const form = $("#search-form");
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const q = $("#q").value.trim();
      if (!q) {
        $("#q").focus();
        return;
      }
      navigate(searchUrl(q));
    });
    const rerun = () => {
      const q = $("#q").value.trim();
      if (q && (location.pathname === "/" || location.pathname === "/index.html")) navigate(searchUrl(q));
    };
    for (const id of ["#mode", "#doc", "#lang", "#parallel"]) $(id).addEventListener("change", rerun);
  }

  /** Fill the document and language selectors from the library and show them when there is a choice. */
  async function initFilters() {
    const lib = await libraryOrNull();
    if (!lib) return;
    const docSel = $("#doc");
    const langSel = $("#lang");
    for (const sym of lib.symbols) {
      const titled = lib.versions(sym).find((d) => d.title);
      docSel.append(el("option", { value: sym, title: titled ? titled.title : null }, sym));
    }
    for (const l of lib.langs) langSel.append(el("option", { value: l, lang: htmlLang(l) }, `${langName(l)} (${l})`));
    $("#filters").hidden = !lib.multi;
    $("#parallel-field").hidden = !lib.hasVersions;
    if (filtersInUrl(location.pathname)) syncFilters(filtersOf(new URLSearchParams(location.search)));
  }

  /** Pages whose URL carries the search form's filters (a paragraph's doc= and lang= name the paragraph). */
  const filtersInUrl = (path) => path === "/" || path === "/index.html" || /^\/cite\/?$/.test(path);

  /** Show the URL's filters in the form (a value the selector does not offer leaves it on "all"). */
  function syncFilters(f) {
    const docSel = $("#doc");
    const langSel = $("#lang");
    const doc = f.docs.length === 1 ? f.docs[0] : "";
    docSel.value = [...docSel.options].some((o) => o.value === doc) ? doc : "";
    langSel.value = [...langSel.options].some((o) => o.value === f.lang) ? f.lang : "";
    $("#parallel").checked = f.parallel;
  }

  function markNav(path) {
    for (const a of document.querySelectorAll("header nav a")) {
      const p = new URL(a.href).pathname;
      if ((p === "/batch" && path.startsWith("/batch")) || (p === "/" && path === "/")) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
  }

  /** How the header and titles name the library: its symbol when it holds one document. */
  const libraryName = (lib) => (lib.symbols.length === 1 ? lib.symbols[0] : `${lib.symbols.length} documents`);

  function setTitle(text) {
    document.title = text;
    libraryOrNull().then((lib) => {
      if (lib && lib.symbols.length && document.title === text) document.title = `${text} — ${libraryName(lib)}`;
    });
  }

  async function route() {
    const seq = ++navSeq;
    delete document.body.dataset.ready;
    hideTip();
    if (batchAbort && !/^\/batch\/?$/.test(location.pathname)) batchAbort.abort();
    setStatus("");
    view().replaceChildren();
    const path = location.pathname;
    const params = new URLSearchParams(location.search);
    markNav(path);
    const mode = MODES.includes(params.get("mode")) ? params.get("mode") : "hybrid";
    $("#mode").value = mode;
    const filters = filtersOf(params);
    if (filtersInUrl(path)) syncFilters(filters);
    let m;
    if (path === "/" || path === "/index.html") {
      const q = (params.get("q") || "").trim();
      $("#q").value = params.get("q") || "";
      if (q) await showSearch(seq, q, mode, params.get("k"), filters);
      else await showIntro(seq);
    } else if ((m = /^\/p\/(\d+)\/?$/.exec(path))) {
      await showParagraph(seq, Number(m[1]), filters.docs[0] || "", filters.lang, (params.get("part") || "").trim());
    } else if (/^\/cite\/?$/.test(path)) {
      await showCite(seq, (params.get("q") || "").trim(), filters);
    } else if (/^\/batch\/?$/.test(path)) {
      showBatch(seq);
    } else {
      setTitle("Not found");
      view().append(el("h1", null, "Page not found"), el("p", null, el("a", { href: "/" }, "Search the report")));
    }
    if (current(seq)) {
      settleFocus();
      document.body.dataset.ready = path + location.search; // the view is complete (glosses included)
    }
  }

  const current = (seq) => seq === navSeq;

  /** After a followed link: focus the new view's heading (screen readers read it) and show the page top. */
  function settleFocus() {
    if (!focusAfter) return;
    focusAfter = false;
    const h = $("#view h1");
    if (h) {
      if (!h.hasAttribute("tabindex")) h.setAttribute("tabindex", "-1");
      h.focus({ preventScroll: true });
    }
    window.scrollTo(0, 0);
  }

  // --- results (search and citation lists) ---------------------------------------------------------------

  function sectionPath(section, lang = "zh") {
    return el("span", { class: "section-path", lang: htmlLang(lang) }, (section || []).join(" › "));
  }

  /** One result card; returns [card, a function that adds the glossed word spans once fetched]. `lib` (the
   * library, or null) places the links to other documents. */
  function resultCard(hit, data, lib) {
    const n = Number(hit.paragraph);
    const symbol = String(hit.document || "");
    const lang = String(hit.lang || "");
    const part = String(hit.part || "");
    const citation = String(hit.citation || citeParagraph(symbol, n, lang === "zh" ? "zh" : "en", part));
    const href = paragraphHref(symbol, lang, n, part);
    const text = String(hit.text || "");
    const unit = cpToUnit(text);
    const layers = [];
    const span = Array.isArray(hit.answer_span) ? hit.answer_span.map(Number) : [0, 0];
    if (span[1] > span[0]) layers.push([{ start: unit(span[0]), end: unit(span[1]), make: answerMark }]);
    const fnMatches = {};
    if (Array.isArray(hit.match) && hit.match.length) {
      const items = itemOffsets(text);
      const ranges = [];
      for (const m of hit.match) {
        const where = String(m.where || "text");
        if (where === "text") ranges.push({ start: unit(m.start), end: unit(m.end) });
        else if (where.startsWith("item:") && items[where.slice(5)] !== undefined) {
          const base = items[where.slice(5)];
          const inner = cpToUnit(text.slice(base));
          ranges.push({ start: base + inner(m.start), end: base + inner(m.end) });
        } else if (where.startsWith("footnote:")) {
          (fnMatches[where.slice(9)] ||= []).push(m);
        }
      }
      layers.push(mergeRanges(ranges, citeMark));
    }
    if (data.terms && data.terms.length) layers.push(termRanges(text, data.terms));

    const textLang = htmlLang(lang);
    const textEl = el("p", { class: "text", lang: textLang });
    renderRich(textEl, text, layers);

    const footnotes = (hit.footnotes || []).map((fn) => {
      const li = el("li", null, el("span", { class: "fn-mark" }, `[${fn.marker}] `));
      const body = el("span", { lang: textLang });
      const fnText = String(fn.text || "");
      const marks = (fnMatches[fn.marker] || []).map((m) => {
        const u = cpToUnit(fnText);
        return { start: u(m.start), end: u(m.end) };
      });
      renderRich(body, fnText, [mergeRanges(marks, citeMark)]);
      li.append(body);
      return li;
    });

    // the documents of the library this paragraph cites
    const links = Array.isArray(hit.links) ? hit.links.map(String) : [];
    const linksEl = links.length ? el("p", { class: "links" }, "Cites in the library: ",
      links.map((sym, i) => [i ? ", " : "", el("a", { class: "doc-link", href: documentHref(lib, sym, lang), dataset: { document: sym } }, sym)])) : null;

    // the same paragraph in the document's other language versions (parallel=1)
    const versions = Array.isArray(hit.parallel) ? hit.parallel : null;
    const parallelEl = versions ? el("div", { class: "parallel", role: "group", "aria-label": `${citation}: other language versions` },
      versions.length ? versions.map((v) => el("section", { class: "version", dataset: { lang: String(v.lang) } },
        el("h3", null, el("a", { href: paragraphHref(symbol, String(v.lang), n, part), lang: htmlLang(String(v.lang)) }, String(v.citation)),
          el("span", { class: "muted" }, ` · ${langName(String(v.lang))}`)),
        el("p", { class: "text", lang: htmlLang(String(v.lang)) }, String(v.text || ""))))
        : el("p", { class: "muted" }, "No other language version has this paragraph.")) : null;

    const score = typeof hit.score === "number" ? hit.score : Number(hit.score);
    const pageEl = pageLink(lib, symbol, lang, hit.page, citation);
    const dataset = { paragraph: String(n), document: symbol, lang };
    if (part) dataset.part = part;
    const card = el("li", { class: "card result", dataset },
      el("div", { class: "card-head" },
        el("h2", { class: "num" }, el("a", { class: "citation", href, lang: textLang }, citation)),
        pageEl,
        sectionPath(hit.section, lang),
        Number.isFinite(score) ? el("span", { class: "score", title: "fused score" }, `score ${score.toFixed(3)}`) : null),
      textEl,
      footnotes.length ? el("ol", { class: "result-footnotes", "aria-label": "Footnotes" }, footnotes) : null,
      linksEl,
      parallelEl,
      copyActions({ symbol, n, part }, el("a", { class: "open", href, "aria-label": `Open ${citation}` }, "Open paragraph")));

    const addGloss = () => (HAN.test(text) ? gloss(text) : Promise.resolve(null)).then((words) => {
      if (words && textEl.isConnected) renderRich(textEl, text, [...layers, wordRanges(words)]);
    });
    return [card, addGloss];
  }

  /** The note above the results of a question the library does not seem to answer (`no_answer`): in English,
   * and in Chinese too for a question asked in Chinese (the page names Chinese things in Chinese). A notice,
   * not an error: the closest paragraphs are still listed below it. */
  function noAnswerNote(data, hasResults) {
    const zh = HAN.test(String(data.query || ""));
    return el("p", { class: "notice no-answer", role: "status", dataset: { noAnswer: "true" } },
      el("span", { lang: "en" }, hasResults ? NO_ANSWER.en : NO_ANSWER.enNone),
      zh ? [" ", el("span", { lang: ZH }, hasResults ? NO_ANSWER.zh : NO_ANSWER.zhNone)] : null);
  }

  function renderAnswer(data, heading, lib) {
    const noAnswer = data.no_answer === true;
    const out = el("div", { class: noAnswer ? "answer no-answer-answer" : "answer" });
    if (heading) out.append(heading);
    for (const w of data.warnings || []) out.append(el("p", { class: "warning", role: "note" }, String(w)));
    if (data.terms && data.terms.length) {
      out.append(el("p", { class: "terms" }, "Matched terms: ",
        data.terms.map((t) => el("span", { class: "chip", lang: HAN.test(t) ? ZH : "en" }, String(t)))));
    }
    const results = data.results || [];
    if (noAnswer) out.append(noAnswerNote(data, results.length > 0));
    // flagged: the hits are only the closest paragraphs, shown in a quieter style
    const list = el("ol", noAnswer
      ? { class: "results closest", "aria-label": "Closest paragraphs (not answers)" }
      : { class: "results", "aria-label": "Results" });
    const glossers = [];
    for (const hit of results) {
      const [card, addGloss] = resultCard(hit, data, lib);
      list.append(card);
      glossers.push(addGloss);
    }
    if (results.length) out.append(list);
    else out.append(el("p", { class: "muted" }, "No paragraph found."));
    return [out, () => Promise.all(glossers.map((g) => g()))];
  }

  const ROUTE_NAMES = {
    question: "question", paragraph: "paragraph lookup", citation: "citation lookup", document: "document",
  };

  /** "¶7–14" (or "¶7"): the paragraphs under a heading or in a part. */
  const spanText = (first, last) => (first === last ? `¶${first}` : `¶${first}–${last}`);

  /** The answer to a document of the library named alone (route "document", `data.overview`): its symbol and
   * title, languages, paragraphs and a table of contents — each heading, indented by level, with its
   * paragraphs, linked to the first of them — then, when other paragraphs cite it, those as usual. */
  function renderOverview(data, lib) {
    const ov = data.overview;
    const symbol = String(ov.symbol || "");
    const lang = String(ov.lang || "");
    const textLang = htmlLang(lang);
    const out = el("div", { class: "answer document-answer" });
    const heading = el("h1", { class: "overview-title" }, el("span", { class: "symbol" }, symbol),
      ov.title ? [" — ", el("span", { class: "doc-title", lang: textLang }, String(ov.title))] : null);
    const languages = (ov.languages || []).map(String);
    const ranges = (ov.ranges || []).map((r) => `${r.part ? String(r.part) : "body"} ${spanText(r.first, r.last)}`);
    const section = el("section", { class: "overview", "aria-label": `Overview of ${symbol}`, dataset: { document: symbol } },
      heading,
      el("p", { class: "overview-meta" },
        el("span", { class: "languages" }, "Languages: ", languages.map((l, i) => [i ? ", " : "",
          el("span", { dataset: { lang: l }, class: l === lang ? "current" : null }, langName(l))])),
        " · ",
        el("span", { class: "paragraph-count" }, `${Number(ov.paragraphs) || 0} paragraphs`),
        ranges.length ? ` (${ranges.join("; ")})` : ""));
    for (const w of data.warnings || []) section.append(el("p", { class: "warning", role: "note" }, String(w)));
    const sections = ov.sections || [];
    if (sections.length) {
      const toc = el("ol", { class: "toc", "aria-label": "Contents" });
      let part = "";
      for (const s of sections) {
        const sPart = String(s.part || "");
        if (sPart !== part) {
          part = sPart;
          toc.append(el("li", { class: "toc-part", dataset: { part } }, part));
        }
        const level = Math.max(1, Math.min(Number(s.level) || 1, 4));
        toc.append(el("li", { class: `toc-entry toc-level-${level}`, dataset: { level: String(level), first: String(s.first), last: String(s.last) } },
          el("span", { class: "toc-heading", lang: textLang }, String(s.heading || "")), " ",
          el("a", { class: "toc-range", href: paragraphHref(symbol, lang, s.first, sPart) }, spanText(s.first, s.last))));
      }
      section.append(el("h2", null, "Contents"), toc);
    } else {
      section.append(el("p", { class: "muted" }, "No headings."));
    }
    out.append(section);
    const results = data.results || [];
    if (!results.length) return [out, () => Promise.resolve()];
    const [hits, addGloss] = renderAnswer({ ...data, warnings: [] },
      el("h2", { class: "citing-title" }, `Paragraphs citing ${symbol}`, el("span", { class: "muted" }, ` (${results.length})`)), lib);
    out.append(hits);
    return [out, addGloss];
  }

  /** What the page says of an answer flagged `no_answer` (pipeline.render.NO_ANSWER in English). */
  const NO_ANSWER = {
    en: "The library does not seem to answer this; closest paragraphs:",
    zh: "资料库似乎没有回答这个问题；以下是最接近的段落：",
    enNone: "The library does not seem to answer this.",
    zhNone: "资料库似乎没有回答这个问题。",
  };

  /** "in CTOC/COP/2012/7 · English": what the filters restrict a search to ("" for the whole library). */
  function filtersText(f) {
    const parts = [];
    if (f.docs && f.docs.length) parts.push(`in ${f.docs.join(", ")}`);
    if (f.lang) parts.push(langName(f.lang));
    if (f.parallel) parts.push("with other language versions");
    return parts.join(" · ");
  }

  async function showSearch(seq, q, mode, k, filters) {
    setTitle(`${q} — search`);
    setStatus("Searching…");
    const params = addFilters(new URLSearchParams({ q, mode }), filters, true);
    if (k && /^\d+$/.test(k)) params.set("k", k);
    const t0 = performance.now();
    let data;
    let lib;
    try {
      [data, lib] = await Promise.all([getJSON(`/api/search?${params}`), libraryOrNull()]);
    } catch (e) {
      if (current(seq)) showError(e);
      return;
    }
    if (!current(seq)) return;
    const ms = Math.round(performance.now() - t0);
    const n = (data.results || []).length;
    const routeName = ROUTE_NAMES[data.route] || data.route || "";
    const scope = filtersText(filters);
    const flagged = data.no_answer === true ? " · no answer in the library, closest paragraphs only" : "";
    const counted = data.overview ? `document overview · ${n} citing paragraph${n === 1 ? "" : "s"}` : `${n} result${n === 1 ? "" : "s"} · ${routeName}`;
    setStatus(`${counted}${data.route === "question" ? ` · ${mode}` : ""}${flagged}${scope ? ` · ${scope}` : ""} · ${ms} ms`);
    const heading = el("h1", { class: "results-title" }, "Results for ", el("q", { class: "query" }, q));
    const [out, addGloss] = data.route === "document" && data.overview ? renderOverview(data, lib) : renderAnswer(data, heading, lib);
    view().replaceChildren(out);
    settleFocus();
    await addGloss();
  }

  async function showCite(seq, q, filters) {
    if (!q) {
      setTitle("Citations");
      view().append(el("h1", null, "Citations"), el("p", null, "Give a resolution, document symbol or article: ",
        el("a", { href: "/cite?q=65%2F230" }, "/cite?q=65/230")));
      return;
    }
    setTitle(`Citing ${q}`);
    setStatus("Looking up…");
    let data;
    let lib;
    try {
      [data, lib] = await Promise.all([getJSON(`/api/cite?${addFilters(new URLSearchParams({ q }), filters, true)}`), libraryOrNull()]);
    } catch (e) {
      if (current(seq)) {
        view().append(el("h1", null, `Citing ${citationLabel(q)}`));
        showError(e);
      }
      return;
    }
    if (!current(seq)) return;
    const n = (data.results || []).length;
    setStatus(`${n} paragraph${n === 1 ? "" : "s"}`);
    if (data.route === "document" && data.overview) {
      const [out, addGloss] = renderOverview(data, lib);
      view().replaceChildren(out);
      settleFocus();
      await addGloss();
      return;
    }
    const heading = el("h1", null, data.route === "paragraph" ? `Paragraphs ${q}` : `Paragraphs citing ${citationLabel(q)}`,
      el("span", { class: "muted" }, ` (${n})`));
    const [out, addGloss] = renderAnswer(data, heading, lib);
    // a cited document that is itself in the library: a way into it
    const doc = data.route === "citation" && lib ? lib.find(q) : null;
    if (doc) {
      heading.after(el("p", { class: "links" }, `${doc.symbol} is in the library: `,
        el("a", { class: "doc-link", href: documentHref(lib, doc.symbol, doc.lang), dataset: { document: doc.symbol } }, "read it")));
    }
    view().replaceChildren(out);
    settleFocus();
    await addGloss();
  }

  // --- one paragraph -------------------------------------------------------------------------------------

  const KIND_NAMES = { resolution: "resolution", symbol: "document", article: "article" };

  /** A citation key as a reader (and the citation router) knows it: "article:28" → "article 28". */
  function citationQuery(key) {
    const m = /^article:(.+)$/.exec(key);
    return m ? `article ${m[1]}` : key;
  }

  function citationLabel(key) {
    const m = /^article:(.+)$/.exec(key);
    return m ? `article ${m[1]}` : key;
  }

  /** "resolution 1851 (2008)", "document S/2012/50", "article 28": a citation as a reader names it. */
  function citationName(c) {
    const key = String(c.key);
    if (c.kind === "article") return citationLabel(key);
    return `${KIND_NAMES[c.kind] || c.kind} ${c.kind === "resolution" && c.text ? String(c.text) : key}`;
  }

  const citeHref = (key) => `/cite?${new URLSearchParams({ q: citationQuery(key) })}`;

  function citationLayer(text, cites) {
    const unit = cpToUnit(text);
    return mergeRanges(cites.map((c) => ({
      start: unit(Number(c.start)),
      end: unit(Number(c.end)),
      make: () => el("a", {
        class: "cite-link",
        href: citeHref(String(c.key)),
        title: `Every paragraph citing ${citationLabel(String(c.key))}`,
        dataset: { key: String(c.key) },
      }),
    })));
  }

  /** Paragraph `n` (of `part`) of the document `symbol` in `lang`. Without a document, the paragraph of the
   * one version that has it; when several have it, a choice between them. */
  async function showParagraph(seq, n, symbol, lang, part) {
    const label = part ? `${part}, ¶${n}` : `¶${n}`;
    setTitle(symbol ? citeParagraph(symbol, n, "en", part) : label);
    setStatus("Loading…");
    const lib = await libraryOrNull();
    if (!current(seq)) return;
    if (lib && !(symbol && lang)) {
      const candidates = lib.having(n, part, symbol ? lib.docs.filter((d) => lib.find(symbol, d.lang) === d) : lib.docs)
        .filter((d) => !lang || d.lang === lang);
      if (candidates.length > 1) {
        setStatus("");
        view().append(el("h1", { tabindex: "-1" }, label),
          el("p", null, `Paragraph ${n}${part ? ` of the ${part}` : ""} is in ${candidates.length} document versions; choose one:`),
          el("ul", { class: "choices" }, candidates.map((d) => el("li", null,
            el("a", { href: paragraphHref(d.symbol, d.lang, n, part), lang: htmlLang(d.lang) },
              citeParagraph(d.symbol, n, d.lang === "zh" ? "zh" : "en", part)),
            el("span", { class: "muted" }, ` · ${langName(d.lang)}${d.title ? ` · ${d.title}` : ""}`)))));
        return;
      }
    }
    let p;
    try {
      const params = new URLSearchParams();
      if (symbol) params.set("doc", symbol);
      if (lang) params.set("lang", lang);
      if (part) params.set("part", part);
      const qs = params.toString();
      p = await getJSON(`/api/paragraphs/${n}${qs ? `?${qs}` : ""}`);
    } catch (e) {
      if (current(seq)) {
        view().append(el("h1", null, symbol ? citeParagraph(symbol, n, lang === "zh" ? "zh" : "en", part) : label));
        showError(e);
      }
      return;
    }
    if (!current(seq)) return;
    setStatus("");

    // the paragraph's own identity (the URL may have named none, or named it in other letters)
    const doc = String(p.document || symbol || "");
    const plang = String(p.lang || lang || "");
    const ppart = String(p.part || "");
    const citation = String(p.citation || citeParagraph(doc, n, plang === "zh" ? "zh" : "en", ppart));
    const textLang = htmlLang(plang);
    setTitle(citation);
    const version = lib ? lib.find(doc, plang) : null;
    const range = version ? lib.range(version, ppart) : null;

    const text = String(p.text || "");
    const items = Array.isArray(p.items) ? p.items : [];
    const footnotes = Array.isArray(p.footnotes) ? p.footnotes : [];
    const cites = Array.isArray(p.citations) ? p.citations : [];
    const byWhere = (w) => cites.filter((c) => c.where === w);

    // previous and next paragraph of the same document version (and part)
    const pager = () => {
      const nav = el("nav", { class: "pager", "aria-label": "Paragraphs" });
      const first = range ? range.first : 1;
      const prev = citeParagraph(doc, n - 1, plang === "zh" ? "zh" : "en", ppart);
      const next = citeParagraph(doc, n + 1, plang === "zh" ? "zh" : "en", ppart);
      if (n > first) {
        nav.append(el("a", { class: "prev", href: paragraphHref(doc, plang, n - 1, ppart), rel: "prev", "aria-label": `Previous: ${prev}` }, `← ¶${n - 1}`));
      }
      if (!range || n < range.last) {
        nav.append(el("a", { class: "next", href: paragraphHref(doc, plang, n + 1, ppart), rel: "next", "aria-label": `Next: ${next}` }, `¶${n + 1} →`));
      }
      return nav;
    };

    // The paragraph's text with its footnote markers (where printed when the server gives the offset, else
    // after the text) and its citations as links.
    const unit = cpToUnit(text);
    const fnRef = (fn) => () => el("sup", { class: "fn-ref" },
      el("a", { href: `#fn-${fn.marker}`, id: `fnref-${fn.marker}`, "aria-label": `footnote ${fn.marker}` }, String(fn.marker)));
    const inserts = footnotes.map((fn) => ({
      at: Number.isInteger(fn.offset) && fn.offset >= 0 ? unit(fn.offset) : text.length,
      make: fnRef(fn),
    }));
    const textEl = el("p", { class: "text", lang: textLang });
    const textLayers = [citationLayer(text, byWhere("text"))];
    renderRich(textEl, text, textLayers, inserts);

    const itemEls = items.map((it) => {
      const body = el("span", { class: "item-text", lang: textLang });
      const layers = [citationLayer(String(it.text || ""), byWhere(`item:${it.label}`))];
      renderRich(body, String(it.text || ""), layers);
      return { it, body, layers, li: el("li", null, el("span", { class: "label" }, `(${it.label})`), body) };
    });

    const fnEls = footnotes.map((fn) => {
      const body = el("span", { lang: textLang });
      const layers = [citationLayer(String(fn.text || ""), byWhere(`footnote:${fn.marker}`))];
      renderRich(body, String(fn.text || ""), layers);
      return {
        fn, body, layers,
        li: el("li", { id: `fn-${fn.marker}` }, el("a", { href: `#fnref-${fn.marker}`, class: "fn-back", "aria-label": `back to the text of footnote ${fn.marker}` }, `[${fn.marker}]`), " ", body),
      };
    });

    const keys = [];
    for (const c of cites) if (!keys.some((k) => k.key === c.key)) keys.push(c);
    const whereName = (w) => (w.startsWith("item:") ? `in item (${w.slice(5)})` : w.startsWith("footnote:") ? `in footnote ${w.slice(9)}` : "");

    // the same paragraph in the document's other language versions
    const others = lib ? lib.having(n, ppart, lib.versions(version ? version.symbol : doc)).filter((d) => d.lang !== plang) : [];
    const versionsEl = others.length ? el("p", { class: "versions" }, "Other language versions: ",
      others.map((d, i) => [i ? ", " : "", el("a", { href: paragraphHref(d.symbol, d.lang, n, ppart), lang: htmlLang(d.lang), hreflang: d.lang, dataset: { lang: d.lang } },
        langName(d.lang))])) : null;
    const multi = lib && lib.multi;

    const dataset = { paragraph: String(n), document: doc, lang: plang };
    if (ppart) dataset.part = ppart;
    const article = el("article", { class: "card paragraph", dataset, "aria-labelledby": "p-title" },
      el("h1", { id: "p-title", tabindex: "-1", lang: textLang }, citation),
      multi && version && version.title ? el("p", { class: "doc-title muted" }, version.title) : null,
      el("p", { class: "crumbs" }, pageLink(lib, doc, plang, p.page, citation), sectionPath(p.section, plang)),
      textEl,
      itemEls.length ? el("ol", { class: "items", "aria-label": "Items" }, itemEls.map((x) => x.li)) : null,
      fnEls.length ? el("section", { class: "footnotes", "aria-labelledby": "fn-title" },
        el("h2", { id: "fn-title" }, "Footnotes"), el("ol", { class: "fn-list" }, fnEls.map((x) => x.li))) : null,
      versionsEl,
      keys.length ? el("section", { class: "cites-in", "aria-labelledby": "ci-title" },
        el("h2", { id: "ci-title" }, "Cited in this paragraph"),
        el("p", { class: "muted hint" }, `Each link lists every paragraph of the ${multi ? "library" : "report"} citing the same.`),
        el("ul", null, keys.map((c) => {
          const places = cites.filter((x) => x.key === c.key).map((x) => String(x.where)).filter((w) => w !== "text");
          const inLibrary = cites.some((x) => x.key === c.key && x.in_library === true);
          return el("li", null,
            el("a", { class: "cite-list-link", href: citeHref(String(c.key)), lang: c.kind === "article" ? "en" : null },
              citationName(c)),
            places.length ? el("span", { class: "muted" }, ` (${places.map(whereName).join(", ")})`) : null,
            inLibrary ? [" — in the library: ", el("a", { class: "doc-link", href: documentHref(lib, String(c.key), plang), dataset: { document: String(c.key) } }, "read it")] : null);
        }))) : null,
      copyActions({ symbol: doc, n, part: ppart }));
    view().replaceChildren(pager(), article, pager());
    settleFocus();

    // Glosses (Chinese text only): one request for the text and its items (the same full text a search result
    // shows), one for the footnotes.
    const full = [text, ...items.map((it) => `(${it.label}) ${it.text}`)].filter((x) => x).join("\n");
    const fnJoined = footnotes.map((fn) => String(fn.text || "")).join("\n");
    const [words, fnWords] = await Promise.all([
      HAN.test(full) ? gloss(full) : Promise.resolve(null),
      HAN.test(fnJoined) ? gloss(fnJoined) : Promise.resolve(null),
    ]);
    if (!current(seq)) return;
    if (words) {
      renderRich(textEl, text, [...textLayers, wordRanges(words, 0, text.length)], inserts);
      let pos = text ? text.length + 1 : 0;
      for (const x of itemEls) {
        const prefix = `(${x.it.label}) `.length;
        const t = String(x.it.text || "");
        renderRich(x.body, t, [...x.layers, wordRanges(words, pos + prefix, t.length)]);
        pos += prefix + t.length + 1;
      }
    }
    if (fnWords) {
      let pos = 0;
      for (const x of fnEls) {
        const t = String(x.fn.text || "");
        renderRich(x.body, t, [...x.layers, wordRanges(fnWords, pos, t.length)]);
        pos += t.length + 1;
      }
    }
  }

  // --- the start page ------------------------------------------------------------------------------------

  const EXAMPLES = [
    "伪药对患者有什么危害？",
    "How much ransom did pirates receive in 2011?",
    "What is UNODC doing about wildlife crime?",
    "第 41 段",
    "resolution 1851 (2008)",
    "S/2009/146",
  ];

  async function showIntro(seq) {
    const lib = await libraryOrNull();
    if (!current(seq)) return;
    const one = !lib || lib.symbols.length < 2;
    setTitle(one ? "Search the report" : "Search the library");
    const box = el("div", { class: "intro" },
      el("h1", null, one ? "Ask the report" : "Ask the library"),
      el("p", null, "Questions in Chinese or English return the numbered paragraphs that answer them, with the answering sentence highlighted and each paragraph cited UN-style. Hover or tap a Chinese word for its English gloss."),
      el("h2", null, "Try"),
      el("ul", null, EXAMPLES.map((q) => el("li", null, el("a", { href: `/?${new URLSearchParams({ q, mode: "hybrid" })}`, lang: HAN.test(q) ? ZH : "en" }, q)))));
    view().append(box);
    if (!lib || !lib.docs.length) return;
    const total = lib.docs.reduce((a, d) => a + (Number(d.paragraphs) || 0), 0);
    box.append(el("h2", null, lib.docs.length === 1 ? `Browse the ${total} paragraphs` : `Browse the ${lib.docs.length} documents`));
    for (const d of lib.docs) {
      const section = el("section", { class: "toc-doc", dataset: { document: d.symbol, lang: d.lang } });
      if (lib.docs.length > 1) {
        section.append(el("h3", null, `${d.symbol} `, el("span", { class: "muted" }, `· ${langName(d.lang)} · ${d.paragraphs} paragraphs`)),
          d.title ? el("p", { class: "muted doc-title" }, d.title) : null);
      }
      for (const r of d.ranges || []) {
        const nav = el("p", { class: "toc" });
        if (r.part) nav.append(el("span", { class: "muted" }, `${r.part}: `));
        for (let i = r.first; i <= r.last; i++) nav.append(el("a", { href: paragraphHref(d.symbol, d.lang, i, r.part || "") }, `¶${i}`), " ");
        section.append(nav);
      }
      box.append(section);
    }
  }

  // --- batch ---------------------------------------------------------------------------------------------

  const CSV_COLUMNS = ["id", "query", "route", "rank", "document", "lang", "paragraph", "citation", "score", "section",
    "answer", "text"];

  /** A CSV field as Python's csv module writes it (QUOTE_MINIMAL). */
  function csvField(v) {
    const s = v === null || v === undefined ? "" : String(v);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  }

  /** The rows `pipeline batch --format csv` writes: one per id and rank, one empty row for no results. */
  function toCsv(records) {
    const rows = [CSV_COLUMNS];
    for (const rec of records) {
      const results = rec.results || [];
      if (!results.length) rows.push([rec.id, rec.query, rec.route, ...CSV_COLUMNS.slice(3).map(() => "")]);
      results.forEach((r, i) => {
        rows.push([rec.id, rec.query, rec.route, i + 1, r.document || "", r.lang || "", r.paragraph, r.citation || "",
          Number(r.score).toFixed(4), (r.section || []).join(" › "), r.answer || "", r.text]);
      });
    }
    return rows.map((r) => r.map(csvField).join(",") + "\n").join("");
  }

  const CONTENT_TYPES = { jsonl: "application/x-ndjson", ndjson: "application/x-ndjson", csv: "text/csv", txt: "text/plain", text: "text/plain" };
  let batchUrls = [];
  let batchAbort = null;

  function showBatch(seq) {
    setTitle("Batch");
    const fileInput = el("input", { id: "batch-file", type: "file", accept: ".jsonl,.ndjson,.csv,.txt", required: true });
    const modeSel = el("select", { id: "batch-mode" }, MODES.map((m) => el("option", { value: m }, m)));
    const kInput = el("input", { id: "batch-k", type: "number", min: "1", max: "100", value: "5", inputmode: "numeric" });
    const docSel = el("select", { id: "batch-doc" }, el("option", { value: "" }, "All documents"));
    const langSel = el("select", { id: "batch-lang" }, el("option", { value: "" }, "All languages"));
    const scopeRow = el("div", { class: "field", hidden: true }, el("label", { for: "batch-doc" }, "Document"), docSel,
      el("label", { for: "batch-lang" }, "Language"), langSel);
    libraryOrNull().then((lib) => {
      if (!lib || !lib.multi) return;
      for (const sym of lib.symbols) docSel.append(el("option", { value: sym }, sym));
      for (const l of lib.langs) langSel.append(el("option", { value: l, lang: htmlLang(l) }, `${langName(l)} (${l})`));
      scopeRow.hidden = false;
    });
    const go = el("button", { type: "submit", id: "batch-go" }, "Upload and answer");
    const cancel = el("button", { type: "button", class: "plain", id: "batch-cancel", hidden: true }, "Cancel");
    const progress = el("progress", { id: "batch-progress", max: "1", value: "0" });
    const progressText = el("span", { id: "batch-progress-text", "aria-live": "polite" }, "");
    const progressRow = el("div", { class: "progress", hidden: true }, el("label", { for: "batch-progress" }, "Progress"), progress, progressText);
    const result = el("div", { id: "batch-result" });

    const form = el("form", { class: "batch", id: "batch-form" },
      el("h1", null, "Answer a file of questions"),
      el("p", null, "One question per line: ", el("code", null, ".jsonl"), " (", el("code", null, '{"id": …, "query": …}'), "), ",
        el("code", null, ".csv"), " (columns ", el("code", null, "id,query"), ") or ", el("code", null, ".txt"),
        ". The answers stream back; download them as JSONL or CSV (the columns of ", el("code", null, "pipeline batch --format csv"), ")."),
      el("fieldset", null, el("legend", null, "File and settings"),
        el("div", { class: "field" }, el("label", { for: "batch-file" }, "File"), fileInput),
        el("div", { class: "field" }, el("label", { for: "batch-mode" }, "Mode"), modeSel,
          el("label", { for: "batch-k" }, "Results per question (k)"), kInput),
        scopeRow,
        el("div", { class: "field" }, go, cancel)),
      progressRow,
      result);

    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const file = fileInput.files && fileInput.files[0];
      if (!file) {
        fileInput.focus();
        return;
      }
      for (const u of batchUrls) URL.revokeObjectURL(u);
      batchUrls = [];
      result.replaceChildren();
      const ext = (/\.([^.]+)$/.exec(file.name) || [, ""])[1].toLowerCase();
      const type = CONTENT_TYPES[ext];
      if (!type) {
        showError(new Error(`${file.name}: choose a .jsonl, .csv or .txt file`), result);
        return;
      }
      const k = Math.max(1, Math.min(100, parseInt(kInput.value, 10) || 5));
      go.disabled = true;
      cancel.hidden = false;
      progressRow.hidden = false;
      progress.max = 1;
      progress.value = 0;
      progressText.textContent = "uploading…";
      const abort = new AbortController();
      batchAbort = abort;
      cancel.onclick = () => abort.abort();
      try {
        const scope = { docs: docSel.value ? [docSel.value] : [], lang: langSel.value, parallel: false };
        await runBatch(file, type, modeSel.value, k, scope, abort.signal, progress, progressText, result, seq);
      } catch (e) {
        if (e && e.name === "AbortError") showError(new Error("Cancelled."), result);
        else showError(e, result);
      } finally {
        go.disabled = false;
        cancel.hidden = true;
        if (batchAbort === abort) batchAbort = null;
      }
    });
    view().append(form);
  }

  async function runBatch(file, type, mode, k, scope, signal, progress, progressText, result, seq) {
    const res = await api(`/api/batch?${addFilters(new URLSearchParams({ k: String(k), mode }), scope, true)}`, {
      method: "POST",
      body: file,
      headers: { "Content-Type": type },
      signal,
    });
    const total = parseInt(res.headers.get("X-Total-Lines") || "", 10);
    const good = [];
    const bad = [];
    let count = 0;
    let fatal = null;
    let painted = false;
    const paint = () => {
      painted = false;
      if (Number.isFinite(total) && total > 0) {
        progress.max = total;
        progress.value = Math.min(count, total);
        progressText.textContent = `${count} / ${total} · ${Math.floor((100 * Math.min(count, total)) / total)} %`;
      } else {
        progress.removeAttribute("value");
        progressText.textContent = `${count} records`;
      }
    };
    const handle = (line) => {
      const s = line.replace(/\r$/, "");
      if (!s.trim()) return;
      let rec;
      try {
        rec = JSON.parse(s);
      } catch (e) {
        bad.push({ line: "?", error: `unreadable record from the server: ${s.slice(0, 80)}` });
        count++;
        return;
      }
      if (rec && rec.error !== undefined && rec.line === undefined) {
        fatal = String(rec.error); // the server stopped the whole batch (an index to rebuild, a bug)
        return;
      }
      count++;
      if (rec && rec.error !== undefined) bad.push(rec);
      else good.push({ raw: s, rec });
      if (!painted) {
        painted = true;
        requestAnimationFrame(paint);
      }
    };
    paint();
    if (!res.body || !res.body.getReader) {
      (await res.text()).split("\n").forEach(handle);
    } else {
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          handle(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      }
      buf += dec.decode();
      if (buf) handle(buf);
    }
    paint();
    if (Number.isFinite(total) && total > 0 && count === total) progress.value = total;

    const stem = file.name.replace(/\.[^.]+$/, "") || "answers";
    const jsonl = new Blob([good.map((g) => `${g.raw}\n`).join("")], { type: "application/x-ndjson" });
    const csv = new Blob([toCsv(good.map((g) => g.rec))], { type: "text/csv;charset=utf-8" });
    const jsonlUrl = URL.createObjectURL(jsonl);
    const csvUrl = URL.createObjectURL(csv);
    batchUrls.push(jsonlUrl, csvUrl);

    const flagged = good.filter((g) => g.rec && g.rec.no_answer === true);
    const summary = `${good.length} answered` +
      (flagged.length ? ` (${flagged.length} the library does not seem to answer)` : "") +
      `, ${bad.length} bad line${bad.length === 1 ? "" : "s"}` +
      (Number.isFinite(total) && count < total ? ` — the stream ended after ${count} of ${total} lines` : "");
    const parts = [
      el("p", { id: "batch-summary", role: "status" }, summary),
      el("div", { class: "downloads" },
        el("a", { id: "download-jsonl", href: jsonlUrl, download: `${stem}.answers.jsonl` }, `Download JSONL (${good.length})`),
        el("a", { id: "download-csv", href: csvUrl, download: `${stem}.answers.csv` }, "Download CSV")),
    ];
    if (flagged.length) {
      // answers flagged no_answer: their results are only the closest paragraphs
      parts.push(el("h2", { id: "batch-no-answer-title" }, "Questions the library does not seem to answer"),
        el("p", { class: "notice" }, "Their results (in the downloads) are only the closest paragraphs, not answers."),
        el("ul", { id: "batch-no-answer", class: "flagged-lines", "aria-labelledby": "batch-no-answer-title" },
          flagged.map(({ rec }) => el("li", { dataset: { id: rec.id === undefined || rec.id === null ? "" : String(rec.id), noAnswer: "true" } },
            el("strong", null, rec.id !== undefined && rec.id !== null ? `id ${rec.id}` : `line ${rec.line ?? "?"}`), ": ",
            el("q", { class: "query", lang: HAN.test(String(rec.query || "")) ? ZH : "en" }, String(rec.query || ""))))));
    }
    if (bad.length) {
      parts.push(el("h2", null, "Lines not answered"),
        el("ul", { id: "batch-errors", class: "bad-lines" }, bad.map((b) => el("li", null,
          el("strong", null, `line ${b.line ?? "?"}`), b.id !== undefined && b.id !== null ? ` (id ${b.id})` : "", `: ${b.error}`))));
    }
    if (current(seq)) result.replaceChildren(...parts);
    if (fatal) throw new Error(`The server stopped the batch after ${count} of ${Number.isFinite(total) ? total : "?"} lines: ${fatal}`);
    if (Number.isFinite(total) && count < total) throw new Error(`The answer stream ended early: ${count} of ${total} lines.`);
  }

  // --- start ---------------------------------------------------------------------------------------------

  /** The header names the library (its symbol when it holds one document); the footer lists its documents. */
  function showCorpusName() {
    libraryOrNull().then((lib) => {
      if (!lib || !lib.symbols.length) return;
      $("#corpus-name").textContent = libraryName(lib);
      const list = $("#doc-list");
      if (list) list.textContent = lib.symbols.join(", ");
    });
  }

  function start() {
    tokenFromHash();
    initLinks();
    initKeys();
    initSearchForm();
    initTooltip();
    route();
    showCorpusName();
    initFilters();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
