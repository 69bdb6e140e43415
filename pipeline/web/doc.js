/* A whole report as one document: /doc/SYMBOL[?lang=xx][&q=QUERY][#para-N]. Vanilla JS, no build step.
 *
 * The server sends this page for a document the library holds (an unknown one is its 404 page); the page draws
 * GET /api/doc/SYMBOL?lang=xx: front matter, language versions, the original file, a table of contents, every
 * paragraph with an anchor (para-N; annex-para-N, annex-II-para-N in an annex) and the footnotes at the end.
 *
 * Arriving from a search (?q=…), the query's terms are marked in the text: the terms are the server's own
 * analysis of the query (the `terms` of /api/search for this document version, lexical mode: its words, their
 * translations and synonyms that occur in the library), marked as the results page marks them; a "back to
 * results" link goes to /?q=….
 *
 * The page's own labels are in Chinese or English: localStorage["pipeline.lang"] ("zh"/"en"), else the
 * browser's language; the switch in the header writes the same key the search page reads.
 *
 * Safety: server and user text only ever reaches the page through text nodes (el() below); nothing is
 * assigned to innerHTML, and the page has no inline script (its Content-Security-Policy allows none).
 */
(() => {
  "use strict";

  const { $, el, cpToUnit } = window.PipelineCommon;

  const HAN = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[\ud840-\ud87f][\udc00-\udfff]/;
  const ZH = "zh-Hans";
  const htmlLang = (l) => (l === "zh" ? ZH : l || null);
  const LANG_NAMES = { zh: "中文", en: "English", fr: "Français", es: "Español", ru: "Русский", ar: "العربية" };
  const ROMAN_ZH = { I: "一", II: "二", III: "三", IV: "四", V: "五", VI: "六", VII: "七", VIII: "八", IX: "九", X: "十" };

  // --- the page's language -----------------------------------------------------------------------------------

  const UI_KEY = "pipeline.lang";

  /** "zh" or "en": the stored choice, else the browser's language. */
  function uiLang() {
    try {
      const v = localStorage.getItem(UI_KEY);
      if (v === "zh" || v === "en") return v;
    } catch (e) { /* storage refused */ }
    return /^zh\b/i.test(navigator.language || "") ? "zh" : "en";
  }

  const TEXT = {
    en: {
      skip: "Skip to content",
      brand: "Report search",
      uiLang: "Language of this page",
      back: "← Back to results",
      tokenNeeded: "This server needs an access token.",
      tokenRefused: "The server refused this token. Enter the access token:",
      token: "Access token",
      useToken: "Use token",
      footer: "Texts: United Nations documents.",
      loading: "Loading the document…",
      report: "Report",
      notFound: "Not found",
      front: "About this document",
      issued: "Date",
      session: "Session",
      meeting: "Place and dates",
      agenda: "Agenda item",
      type: "Type",
      added: "Added to the library",
      size: "Paragraphs",
      sep: "; ",
      masthead: "Front matter as printed",
      versions: "Language versions",
      original: "Original file",
      originalLink: (fmt) => (fmt === "pdf" ? "PDF" : `Word (.${fmt})`),
      newTab: "opens in a new tab",
      contents: "Contents",
      notes: "Footnotes",
      noteRef: (m) => `footnote ${m}`,
      noteBack: (cite) => `back to ${cite}`,
      marked: (n) => (n === 1 ? "1 place in the text matches your query:" : `${n} places in the text match your query:`),
      noMarks: "No word of your query occurs in this document version.",
      part: (p) => p, // as the citations write it: "annex II, para. 3"
      range: (a, b, part) => `${part ? `${part}, ` : ""}${a === b ? `para. ${a}` : `paras. ${a}–${b}`}`,
      count: (n) => (n === 1 ? "1 paragraph" : `${n} paragraphs`),
      cantOpen: (m) => `Cannot open the file: ${m}`,
      unreachable: (m) => `Cannot reach the server (${m}).`,
    },
    zh: {
      skip: "跳到正文",
      brand: "报告检索",
      uiLang: "页面语言",
      back: "← 返回检索结果",
      tokenNeeded: "此服务器需要访问令牌。",
      tokenRefused: "服务器拒绝了此令牌。请输入访问令牌：",
      token: "访问令牌",
      useToken: "使用令牌",
      footer: "文本：联合国文件。",
      loading: "正在载入文件……",
      report: "报告",
      notFound: "未找到",
      front: "文件信息",
      issued: "日期",
      session: "届会",
      meeting: "地点和日期",
      agenda: "议程项目",
      type: "类型",
      added: "加入文库",
      size: "段落",
      sep: "；",
      masthead: "文件首页原文",
      versions: "语文版本",
      original: "原始文件",
      originalLink: (fmt) => (fmt === "pdf" ? "PDF" : `Word（.${fmt}）`),
      newTab: "在新标签页中打开",
      contents: "目录",
      notes: "脚注",
      noteRef: (m) => `脚注 ${m}`,
      noteBack: (cite) => `返回${cite}`,
      marked: (n) => `正文中有 ${n} 处与检索词相符：`,
      noMarks: "此语文版本中没有检索词。",
      part: (p) => {
        const i = p.indexOf(" ");
        const roman = i < 0 ? "" : p.slice(i + 1);
        return `附件${ROMAN_ZH[roman] || roman}`;
      },
      range: (a, b, part) => `${part ? `${part}，` : ""}${a === b ? `第${a}段` : `第${a}至${b}段`}`,
      count: (n) => `${n} 段`,
      cantOpen: (m) => `无法打开文件：${m}`,
      unreachable: (m) => `无法连接服务器（${m}）。`,
    },
  };

  let ui = uiLang();
  const t = (key, ...args) => {
    const v = TEXT[ui][key];
    return typeof v === "function" ? v(...args) : v;
  };

  /** The labels of the page's fixed parts, the switch's state and the root element's language. */
  function applyUi() {
    document.documentElement.lang = ui === "zh" ? ZH : "en";
    for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
    for (const b of document.querySelectorAll("[data-ui-lang]")) b.setAttribute("aria-pressed", String(b.dataset.uiLang === ui));
  }

  // --- the access token (the search page's: sessionStorage["pipeline.token"]) ----------------------------------

  /** fetch() with the token (see PipelineCommon.makeApi), its messages in the page's language. */
  const api = window.PipelineCommon.makeApi({
    unreachable: (why) => t("unreachable", why),
    needed: () => t("tokenNeeded"),
    refused: () => t("tokenRefused"),
  });

  /** Links to an original file fetch it with the token when the page holds one (PipelineCommon). */
  const openWithToken = window.PipelineCommon.makeOpenWithToken(api, (why) => { $("#status").textContent = t("cantOpen", why); });

  // --- the URL -------------------------------------------------------------------------------------------------

  /** The symbol of /doc/SYMBOL (each segment percent-decoded; "%2F" stands for a slash too). */
  function symbolOfPath(pathname) {
    const rest = pathname.replace(/^\/doc\//, "");
    return rest.split("/").map((s) => {
      try {
        return decodeURIComponent(s);
      } catch (e) {
        return s;
      }
    }).join("/");
  }

  const encodeSymbol = (symbol) => String(symbol).split("/").map(encodeURIComponent).join("/");

  /** The page of a version, keeping the query (and its mode) the reader came with. */
  function versionHref(symbol, lang) {
    const params = new URLSearchParams({ lang });
    const here = new URLSearchParams(location.search);
    for (const k of ["q", "mode"]) if (here.get(k)) params.set(k, here.get(k));
    return `/doc/${encodeSymbol(symbol)}?${params}`;
  }

  // --- marking the query's terms (as the results page does) ----------------------------------------------------

  const escapeRe = (s) => s.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");

  /** Where the terms stand in `text`, sorted and merged: Chinese terms as substrings, numbers as whole
   * numbers, Latin stems as the start of a word (the whole word is marked), case-insensitively. */
  function termRanges(text, terms) {
    const ranges = [];
    for (const raw of terms) {
      const term = typeof raw === "string" ? raw.trim() : "";
      if (!term) continue;
      let re;
      try {
        if (HAN.test(term)) re = new RegExp(escapeRe(term), "gu");
        else if (/^[0-9][0-9.,]*$/.test(term)) re = new RegExp(`(?<![0-9])${escapeRe(term)}(?![0-9])`, "gu");
        else re = new RegExp(`(?<![\\p{L}\\p{N}])${escapeRe(term)}[\\p{L}\\p{M}]*`, "giu");
      } catch (e) {
        continue;
      }
      for (const m of text.matchAll(re)) if (m[0].length) ranges.push({ start: m.index, end: m.index + m[0].length });
    }
    ranges.sort((a, b) => a.start - b.start || b.end - a.end);
    const out = [];
    for (const r of ranges) {
      const last = out[out.length - 1];
      if (last && r.start <= last.end) last.end = Math.max(last.end, r.end);
      else out.push({ ...r });
    }
    return out;
  }

  let markCount = 0;
  const marked = new Map(); // each marked text (case-folded), as first marked

  /** `text` as nodes: the terms marked, and `inserts` ({at, node}) placed between characters. */
  function richText(text, terms, inserts = []) {
    const frag = document.createDocumentFragment();
    const ranges = terms.length ? termRanges(text, terms) : [];
    let ri = 0;
    const emit = (s, e) => {
      while (s < e) {
        while (ri < ranges.length && ranges[ri].end <= s) ri++;
        const r = ranges[ri];
        if (!r || r.start >= e) {
          frag.append(text.slice(s, e));
          return;
        }
        if (r.start > s) frag.append(text.slice(s, r.start));
        const from = Math.max(r.start, s);
        const to = Math.min(r.end, e);
        frag.append(el("mark", { class: "term" }, text.slice(from, to)));
        if (from === r.start) {
          markCount++;
          const word = text.slice(r.start, r.end);
          if (!marked.has(word.toLowerCase())) marked.set(word.toLowerCase(), word);
        }
        s = to;
      }
    };
    let pos = 0;
    for (const ins of [...inserts].sort((a, b) => a.at - b.at)) {
      const at = Math.max(pos, Math.min(ins.at, text.length));
      emit(pos, at);
      frag.append(ins.node);
      pos = at;
    }
    emit(pos, text.length);
    return frag;
  }

  // --- drawing the document ------------------------------------------------------------------------------------

  const partLabel = (part) => (part ? t("part", part) : "");

  function frontMatter(data) {
    const f = data.front || {};
    const docLang = htmlLang(data.lang);
    const rows = [
      ["issued", f.issued, null],
      ["session", f.session, docLang],
      ["meeting", [f.place, f.dates].filter(Boolean).join(", "), docLang],
      ["agenda", [f.agenda_item, f.agenda_title].filter(Boolean).join(" — "), docLang],
      ["type", f.report_type, docLang],
      ["added", f.added ? String(f.added).slice(0, 10) : "", null],
      ["size", (data.parts || []).map((p) => t("range", p.first, p.last, partLabel(p.part))).join(t("sep")), null],
    ];
    const dl = el("dl", { class: "doc-front" });
    for (const [key, value, lang] of rows) {
      if (!value) continue;
      dl.append(el("dt", null, t(key)), el("dd", { lang }, value));
    }
    return dl;
  }

  function versionsNav(data) {
    if (!Array.isArray(data.versions) || data.versions.length < 2) return null;
    return el("nav", { class: "doc-versions", "aria-labelledby": "versions-title" },
      el("h2", { id: "versions-title" }, t("versions")),
      el("ul", null, data.versions.map((v) => el("li", null, el("a", {
        href: versionHref(data.symbol, v.lang),
        lang: htmlLang(v.lang),
        hreflang: htmlLang(v.lang),
        dataset: { lang: v.lang },
        "aria-current": v.lang === data.lang ? "page" : null,
        // the same paragraph in the other version: the anchor goes along
        onclick: (ev) => {
          if (location.hash) ev.currentTarget.href = versionHref(data.symbol, v.lang) + location.hash;
        },
      }, LANG_NAMES[v.lang] || v.lang)))));
  }

  function originalLink(data) {
    const o = data.original;
    if (!o || !o.url) return null;
    const pdf = o.format === "pdf";
    return el("p", { class: "doc-original" }, `${t("original")}: `,
      el("a", {
        href: o.url,
        target: pdf ? "_blank" : null,
        rel: pdf ? "noopener" : null,
        download: pdf ? null : true,
        dataset: { format: o.format },
        onclick: openWithToken,
      }, t("originalLink", o.format), pdf ? el("span", { class: "visually-hidden" }, ` (${t("newTab")})`) : null));
  }

  /** The table of contents: the sections nested by level, each with its paragraph range. */
  function contents(data) {
    const sections = data.sections || [];
    if (!sections.length) return null;
    const root = el("ol", { class: "doc-toc-list" });
    const stack = [{ level: 0, list: root, item: null }];
    for (const s of sections) {
      while (stack.length > 1 && stack[stack.length - 1].level >= s.level) stack.pop();
      let top = stack[stack.length - 1];
      if (!top.list) {
        top.list = el("ol");
        top.item.append(top.list);
      }
      const item = el("li", { dataset: { section: s.id } },
        el("a", { href: `#${s.id}`, lang: htmlLang(data.lang) }, s.heading), " ",
        el("span", { class: "doc-range" }, t("range", s.first, s.last, partLabel(s.part))));
      top.list.append(item);
      stack.push({ level: s.level, list: null, item });
    }
    return el("nav", { class: "doc-toc", "aria-labelledby": "toc-title" }, el("h2", { id: "toc-title" }, t("contents")), root);
  }

  /** The paragraphs, each section's heading before its first paragraph; the footnotes at the end. */
  function body(data, terms) {
    const docLang = htmlLang(data.lang);
    const sections = new Map((data.sections || []).map((s) => [s.id, s]));
    const out = el("div", { class: "doc-body", lang: docLang });
    const notes = el("ol", { class: "doc-notes-list" });
    let part = "";
    for (const p of data.paragraphs || []) {
      const pPart = p.part || "";
      if (pPart !== part && !(p.sections || []).length) {
        out.append(el("h2", { class: "doc-part", lang: htmlLang(ui) }, partLabel(pPart) || data.symbol));
      }
      part = pPart;
      for (const id of p.sections || []) {
        const s = sections.get(id);
        if (s) out.append(el(`h${Math.min(6, s.level + 1)}`, { id: s.id, class: "doc-heading" }, s.heading));
      }
      const toUnit = cpToUnit(p.text || "");
      const refs = (p.footnotes || []).map((fn) => ({
        at: fn.offset >= 0 ? toUnit(fn.offset) : (p.text || "").length,
        node: el("sup", { class: "fn-ref" }, el("a", {
          id: `ref-${fn.id}`, href: `#${fn.id}`, "aria-label": t("noteRef", fn.marker), lang: htmlLang(ui),
        }, fn.marker)),
      }));
      const para = el("div", { class: "doc-para", id: p.anchor, tabindex: "-1", dataset: { number: p.number, part: pPart } },
        el("p", { class: "doc-text" },
          el("a", { class: "pnum", href: `#${p.anchor}`, title: p.citation }, `${p.number}.`), " ",
          richText(p.text || "", terms, refs)));
      if ((p.items || []).length) {
        para.append(el("ul", { class: "items" }, p.items.map((it) => el("li", null,
          el("span", { class: "label" }, `(${it.label})`), el("span", null, richText(it.text || "", terms))))));
      }
      out.append(para);
      for (const fn of p.footnotes || []) {
        notes.append(el("li", { id: fn.id },
          el("span", { class: "fn-marker" }, fn.marker), " ",
          el("span", { class: "fn-text" }, richText(fn.text || "", terms)), " ",
          el("a", { class: "fn-back", href: `#ref-${fn.id}`, "aria-label": t("noteBack", p.citation), lang: htmlLang(ui) }, "↩")));
      }
    }
    const footnotes = notes.childElementCount
      ? el("section", { class: "doc-notes", "aria-labelledby": "notes-title" },
        el("h2", { id: "notes-title" }, t("notes")), el("div", { lang: docLang }, notes))
      : null;
    return [out, footnotes];
  }

  function termsLine(terms) {
    if (!terms.length) return null;
    if (!markCount) return el("p", { class: "doc-terms", role: "note" }, t("noMarks"));
    return el("p", { class: "doc-terms" }, t("marked", markCount), " ",
      [...marked.values()].slice(0, 20).map((x) => el("span", { class: "chip", lang: HAN.test(x) ? ZH : "en" }, x)));
  }

  // --- the page ------------------------------------------------------------------------------------------------

  const state = { data: null, terms: [], error: null, query: "" };

  function render() {
    applyUi();
    const root = $("#doc");
    const back = $("#back");
    back.hidden = !state.query;
    if (state.query) {
      const params = new URLSearchParams({ q: state.query });
      const mode = new URLSearchParams(location.search).get("mode");
      if (mode) params.set("mode", mode);
      $("#back-link").href = `/?${params}`;
    }
    if (state.error) {
      document.title = t("notFound");
      root.replaceChildren(el("h1", null, t("notFound")), el("p", { class: "error", role: "alert" }, state.error));
      return;
    }
    const data = state.data;
    if (!data) return;
    document.title = `${data.symbol}${data.title ? ` — ${data.title}` : ""}`;
    markCount = 0;
    marked.clear();
    const [text, notes] = body(data, state.terms);
    const masthead = (data.masthead || []).length
      ? el("details", { class: "doc-masthead" }, el("summary", null, t("masthead")),
        el("div", { lang: htmlLang(data.lang) }, data.masthead.map((line) => el("p", null, line))))
      : null;
    root.replaceChildren(el("article", { class: "doc", "aria-labelledby": "doc-title" },
      el("header", { class: "doc-head" },
        el("p", { class: "doc-symbol" }, data.symbol),
        el("h1", { id: "doc-title", lang: data.title ? htmlLang(data.lang) : null }, data.title || data.symbol),
        el("section", { class: "doc-about", "aria-label": t("front") }, frontMatter(data), masthead, originalLink(data)),
        versionsNav(data)),
      contents(data),
      termsLine(state.terms),
      text,
      notes));
  }

  /** The element the URL's #anchor names: highlighted, scrolled to and focused. */
  function showTarget(scroll) {
    for (const old of document.querySelectorAll(".doc-target")) old.classList.remove("doc-target");
    let id = location.hash.slice(1);
    try {
      id = decodeURIComponent(id);
    } catch (e) { /* keep as is */ }
    const target = id ? document.getElementById(id) : null;
    if (!target) return;
    target.classList.add("doc-target");
    if (scroll) {
      target.scrollIntoView({ block: "start" });
      if (target.classList.contains("doc-para")) target.focus({ preventScroll: true });
    }
  }

  /** Re-draw in another language of the page, keeping the first paragraph in the window where it is. */
  function switchUi(lang) {
    if (lang === ui) return;
    const paras = [...document.querySelectorAll(".doc-para")];
    const top = paras.find((p) => p.getBoundingClientRect().top >= 0) || paras.find((p) => p.getBoundingClientRect().bottom > 0);
    const offset = top ? top.getBoundingClientRect().top : 0;
    ui = lang;
    render();
    showTarget(false);
    const again = top ? document.getElementById(top.id) : null;
    if (again) window.scrollBy(0, again.getBoundingClientRect().top - offset);
  }

  async function load() {
    const params = new URLSearchParams(location.search);
    const symbol = symbolOfPath(location.pathname);
    const lang = (params.get("lang") || "").trim();
    state.query = (params.get("q") || "").trim();
    applyUi();
    $("#status").textContent = t("loading");
    try {
      const res = await api(`/api/doc/${encodeSymbol(symbol)}${lang ? `?${new URLSearchParams({ lang })}` : ""}`);
      state.data = await res.json();
    } catch (e) {
      state.error = e && e.message ? e.message : String(e);
    }
    if (state.data && state.query) {
      const q = new URLSearchParams({ q: state.query, doc: state.data.symbol, lang: state.data.lang, mode: "lexical", k: "1" });
      try {
        const answer = await (await api(`/api/search?${q}`)).json();
        state.terms = Array.isArray(answer.terms) ? answer.terms.filter((x) => typeof x === "string" && x.trim()) : [];
      } catch (e) {
        state.terms = []; // a query with nothing to search for: nothing to mark
      }
    }
    $("#status").textContent = "";
    if (state.data && symbolOfPath(location.pathname) !== state.data.symbol) {
      // the symbol as the library writes it (the path may have had another case or width)
      history.replaceState(history.state, "", `/doc/${encodeSymbol(state.data.symbol)}${location.search}${location.hash}`);
    }
    render();
    showTarget(true);
    document.body.dataset.ready = "1";
  }

  function start() {
    for (const b of document.querySelectorAll("[data-ui-lang]")) {
      b.addEventListener("click", () => {
        try {
          localStorage.setItem(UI_KEY, b.dataset.uiLang);
        } catch (e) { /* storage refused: this page only */ }
        switchUi(b.dataset.uiLang);
      });
    }
    window.addEventListener("storage", (ev) => {
      if (ev.key === UI_KEY && (ev.newValue === "zh" || ev.newValue === "en")) switchUi(ev.newValue);
    });
    window.addEventListener("hashchange", () => showTarget(false));
    $("#back-link").addEventListener("click", (ev) => {
      // came from our results page: go back to it (its scroll position kept); otherwise follow the link
      let ref = null;
      try {
        ref = document.referrer ? new URL(document.referrer) : null;
      } catch (e) { /* no referrer */ }
      if (ref && ref.origin === location.origin && ref.pathname === "/" && ref.searchParams.get("q") && history.length > 1) {
        ev.preventDefault();
        history.back();
      }
    });
    load();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
