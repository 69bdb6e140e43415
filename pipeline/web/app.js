/* The library search page: search, paragraph view, citation lists, batch upload. Vanilla JS, no build step.
 *
 * Routes (decided here from location.pathname + search; the server serves index.html for all of them):
 *   /?q=…&mode=…[&k=…][&doc=SYMBOL…][&lang=xx][&parallel=0]   search results (each hit beside its other
 *                                          language versions unless parallel=0)
 *   /p/N?doc=SYMBOL&lang=xx[&part=annex][&hl=S-E][&hl.xx=S-E]   one paragraph of one document version, beside
 *                                          its other versions (hl: the answer's code-point offsets to mark in
 *                                          this version, hl.xx in version xx); /p/N alone when only one
 *                                          document has a paragraph N (a library of one report)
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

  const { $, el, cpToUnit, setToken, askToken, ApiError } = window.PipelineCommon;

  const HAN = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[\ud840-\ud87f][\udc00-\udfff]/;
  const ZH = "zh-Hans";
  const MODES = ["hybrid", "lexical", "dense"];

  // --- the interface language ----------------------------------------------------------------------------
  //
  // Every label, message and help text of the page's own is in English and Chinese (UI below). The reader's
  // choice is kept in localStorage under "pipeline.lang" ("zh" or "en"), shared with the whole-report page
  // (/doc/…); without one the browser's language decides (zh* → Chinese, anything else → English).

  const UI_LANG_KEY = "pipeline.lang";
  const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

  const UI = {
    en: {
      skip: "Skip to content",
      brand: "Report search",
      "nav.label": "Pages",
      "nav.search": "Search",
      "nav.batch": "Batch",
      "switch.label": "Language of this page",
      "q.label": "Question, paragraph number or citation, in Chinese or English",
      "q.placeholder": "Ask in Chinese or English — e.g. 伪药对患者有什么危害？",
      "mode.label": "Retrieval mode",
      "mode.hybrid": "hybrid",
      "mode.lexical": "lexical",
      "mode.dense": "dense",
      "k.label": "Results per search",
      langNames: { zh: "Chinese", en: "English", fr: "French", es: "Spanish", ru: "Russian", ar: "Arabic" },
      "search.go": "Search",
      "hint.toggle": "Tips",
      "filters.label": "Which documents to search",
      "filters.doc": "Document",
      "filters.allDocs": "All documents",
      "filters.lang": "Language",
      "filters.allLangs": "All languages",
      "batch.title": "Batch",
      "batch.h1": "Answer a file of questions",
      "batch.intro": (code) => ["One question per line: ", code(".jsonl"), " (", code('{"id": …, "query": …}'), "), ",
        code(".csv"), " (columns ", code("id,query"), ") or ", code(".txt"),
        ". The answers stream back; download them as JSONL or CSV (the columns of ", code("pipeline batch --format csv"), ")."],
      "batch.legend": "File and settings",
      "batch.file": "File",
      "batch.mode": "Mode",
      "batch.k": "Results per question (k)",
      "batch.go": "Upload and answer",
      "batch.cancel": "Cancel",
      "batch.progress": "Progress",
      "batch.uploading": "uploading…",
      "batch.chooseExt": (name) => `${name}: choose a .jsonl, .csv or .txt file`,
      "batch.cancelled": "Cancelled.",
      "batch.line": (n) => `line ${n}`,
      "batch.id": (id) => `id ${id}`,
      "batch.progressOf": (count, total, pct) => `${count} of ${total} lines · ${pct} %`,
      "batch.progressN": (count) => `${count} lines`,
      "batch.showMore": (shown, total) => `Show more (${shown} of ${total} shown)`,
      "batch.answers": "Answers",
      "batch.question": "Question",
      "batch.top": "Top paragraphs",
      "batch.warnings": "Warnings",
      "batch.summary": (good, flagged, bad, count, total) => `${good} answered` +
        (flagged ? ` (${flagged} the library does not seem to answer)` : "") +
        `, ${bad} bad line${bad === 1 ? "" : "s"}` +
        (Number.isFinite(total) && count < total ? ` — the stream ended after ${count} of ${total} lines` : ""),
      "batch.jsonl": (n) => `Download JSONL (${n})`,
      "batch.csv": "Download CSV",
      "batch.bad": "Lines not answered",
      "batch.flagged": "Questions the library does not seem to answer",
      "batch.flaggedNote": "Their results (in the downloads) are only the closest paragraphs, not answers.",
      "batch.stopped": (count, total, why) => `The server stopped the batch after ${count} of ${total} lines: ${why}`,
      "batch.endedEarly": (count, total) => `The answer stream ended early: ${count} of ${total} lines.`,
      "filters.parallel": "Show other language versions",
      "token.label": "Access token",
      "token.use": "Use token",
      "token.needed": "This server needs an access token.",
      "token.refused": "The server refused this token. Enter the access token:",
      "footer.texts": "Texts: United Nations documents",
      "footer.inLibrary": "in the library",
      "footer.glosses": ". Word glosses: CC-CEDICT (CC BY-SA 4.0).",
      hint: (kbd, i) => ["Press ", kbd("/"), " to search. Paragraph numbers (", i("23"), ", ", i("第 41 段", ZH), ", ",
        i("CTOC/COP/2012/7 ¶23"), ") and citations (", i("resolution 65/230"), ", ", i("S/2009/146"), ", ", i("article 28"),
        ") are looked up exactly."],
      unreachable: (why) => `Cannot reach the server (${why}).`,
      pdfPage: (citation, n) => `${citation}: page ${n} of the PDF (opens in a new tab)`,
      pdfFailed: (why) => `Cannot open the PDF: ${why}`,
      notInDict: "not in CC-CEDICT",
      copyEn: "Copy citation",
      copyZh: "复制引文",
      copyEnLang: "en",
      copyZhLang: ZH,
      copyEnAria: (where) => `Copy citation ${where} (English style)`,
      copyZhAria: (where) => `复制引文 ${where}（中文格式）`,
      copied: (text) => `copied: ${text}`,
      copyFailed: (text) => `copy failed — select and copy: ${text}`,
      notFoundTitle: "Not found",
      notFound: "Page not found",
      searchTheReport: "Search the report",
      documents: (n) => plural(n, "document", "documents"),
      citesInLibrary: "Cites in the library: ",
      sideBySide: (citation) => `${citation} beside its other language versions`,
      noOtherVersion: "No other language version has this paragraph.",
      scoreTitle: "fused score",
      score: (s) => `score ${s}`,
      footnotes: "Footnotes",
      openParagraph: "Open paragraph",
      openAria: (citation) => `Open paragraph ${citation}`,
      readInReport: "Read in the report",
      readAria: (citation) => `Read in the report: ${citation}`,
      matchedTerms: "Matched terms: ",
      closest: "Closest paragraphs (not answers)",
      results: "Results",
      noParagraph: "No paragraph found.",
      routes: { question: "question", paragraph: "paragraph lookup", citation: "citation lookup", document: "document" },
      overviewOf: (symbol) => `Overview of ${symbol}`,
      languages: "Languages: ",
      paragraphs: (n) => plural(n, "paragraph", "paragraphs"),
      body: "body",
      contents: "Contents",
      noHeadings: "No headings.",
      citing: (what) => `Paragraphs citing ${what}`,
      inDocs: (docs) => `in ${docs}`,
      withVersions: "with other language versions",
      searchTitle: (q) => `${q} — search`,
      searching: "Searching…",
      flagged: "no answer in the library, closest paragraphs only",
      overviewCount: (n) => `document overview · ${plural(n, "citing paragraph", "citing paragraphs")}`,
      resultCount: (n, route) => `${plural(n, "result", "results")} · ${route}`,
      modeName: (m) => m,
      resultsFor: "Results for ",
      citations: "Citations",
      citeHelp: "Give a resolution, document symbol or article: ",
      citingTitle: (what) => `Citing ${what}`,
      lookingUp: "Looking up…",
      paragraphsQ: (q) => `Paragraphs ${q}`,
      inLibraryReadIt: (symbol) => `${symbol} is in the library: `,
      readIt: "read it",
      kinds: { resolution: "resolution", symbol: "document", article: "article" },
      article: (n) => `article ${n}`,
      everyCiting: (what) => `Every paragraph citing ${what}`,
      choose: (n, part, count) => `Paragraph ${n}${part ? ` of the ${part}` : ""} is in ${count} document versions; choose one:`,
      loading: "Loading…",
      pagerLabel: "Previous and next paragraph",
      pagerBelow: "Previous and next paragraph, below the text",
      previous: (c) => `Previous: ${c}`,
      next: (c) => `Next: ${c}`,
      footnoteRef: (m) => `footnote ${m}`,
      footnoteBack: (m) => `back to the text of footnote ${m}`,
      otherVersions: "Other language versions: ",
      items: "Items",
      citedHere: "Cited in this paragraph",
      eachLink: (multi) => `Each link lists every paragraph of the ${multi ? "library" : "report"} citing the same.`,
      inItem: (x) => `in item (${x})`,
      inFootnote: (m) => `in footnote ${m}`,
      inLibraryDash: " — in the library: ",
      searchTheLibrary: "Search the library",
      askReport: "Ask the report",
      askLibrary: "Ask the library",
      intro: "Questions in Chinese or English return the numbered paragraphs that answer them, with the answering sentence highlighted and each paragraph cited UN-style. Hover, tap or tab to a Chinese word and press Enter for its English gloss.",
      try: "Try",
      browseParagraphs: (n) => `Browse the ${n} paragraphs`,
      browseDocuments: (n) => `Browse the ${n} documents`,
    },
    zh: {
      skip: "跳到正文",
      brand: "报告检索",
      "nav.label": "页面",
      "nav.search": "检索",
      "nav.batch": "批量",
      "switch.label": "页面语言",
      "q.label": "问题、段落编号或引文，中文或英文均可",
      "q.placeholder": "用中文或英文提问，例如：伪药对患者有什么危害？",
      "mode.label": "检索方式",
      "mode.hybrid": "混合",
      "mode.lexical": "关键词",
      "mode.dense": "语义",
      "k.label": "每次检索的结果数",
      langNames: { zh: "中文", en: "英文", fr: "法文", es: "西班牙文", ru: "俄文", ar: "阿拉伯文" },
      "search.go": "检索",
      "hint.toggle": "提示",
      "filters.label": "检索哪些文件",
      "filters.doc": "文件",
      "filters.allDocs": "全部文件",
      "filters.lang": "语言",
      "filters.allLangs": "全部语言",
      "batch.title": "批量问答",
      "batch.h1": "回答一个文件中的问题",
      "batch.intro": (code) => ["每行一个问题：", code(".jsonl"), "（", code('{"id": …, "query": …}'), "）、",
        code(".csv"), "（列 ", code("id,query"), "）或 ", code(".txt"),
        "。答案陆续传回；可下载为 ", code("JSONL"), " 或 ", code("CSV"), "（列与 ", code("pipeline batch --format csv"), " 相同）。"],
      "batch.legend": "文件与设置",
      "batch.file": "文件",
      "batch.mode": "检索方式",
      "batch.k": "每个问题的结果数（k）",
      "batch.go": "上传并回答",
      "batch.cancel": "取消",
      "batch.progress": "进度",
      "batch.uploading": "正在上传…",
      "batch.chooseExt": (name) => `${name}：请选择 .jsonl、.csv 或 .txt 文件`,
      "batch.cancelled": "已取消。",
      "batch.line": (n) => `第 ${n} 行`,
      "batch.id": (id) => `编号 ${id}`,
      "batch.progressOf": (count, total, pct) => `${count} / ${total} 行 · ${pct} %`,
      "batch.progressN": (count) => `${count} 行`,
      "batch.showMore": (shown, total) => `显示更多（已显示 ${shown} / ${total}）`,
      "batch.answers": "答案",
      "batch.question": "问题",
      "batch.top": "最相关的段落",
      "batch.warnings": "警告",
      "batch.summary": (good, flagged, bad, count, total) => `已回答 ${good} 个` +
        (flagged ? `（其中 ${flagged} 个资料库似乎没有回答）` : "") +
        `，无法读取的行 ${bad} 行` +
        (Number.isFinite(total) && count < total ? `——传回 ${count} / ${total} 行后中断` : ""),
      "batch.jsonl": (n) => `下载 JSONL（${n}）`,
      "batch.csv": "下载 CSV",
      "batch.bad": "未能回答的行",
      "batch.flagged": "资料库似乎没有回答的问题",
      "batch.flaggedNote": "这些问题的结果（在下载文件中）只是最接近的段落，并非答案。",
      "batch.stopped": (count, total, why) => `服务器在第 ${count} / ${total} 行后停止了批量问答：${why}`,
      "batch.endedEarly": (count, total) => `答案传回提前中断：${count} / ${total} 行。`,
      "filters.parallel": "显示其他语言版本",
      "token.label": "访问令牌",
      "token.use": "使用令牌",
      "token.needed": "此服务器需要访问令牌。",
      "token.refused": "服务器拒绝了此令牌。请输入访问令牌：",
      "footer.texts": "文本：联合国文件",
      "footer.inLibrary": "（资料库中）",
      "footer.glosses": "。词语释义：CC-CEDICT（CC BY-SA 4.0）。",
      hint: (kbd, i) => ["按 ", kbd("/"), " 键开始检索。段落编号（", i("23"), "、", i("第 41 段"), "、", i("CTOC/COP/2012/7 ¶23"),
        "）和引文（", i("resolution 65/230", "en"), "、", i("S/2009/146"), "、", i("article 28", "en"), "）按原样精确查找。"],
      unreachable: (why) => `无法连接服务器（${why}）。`,
      pdfPage: (citation, n) => `${citation}：PDF 第 ${n} 页（在新标签页中打开）`,
      pdfFailed: (why) => `无法打开 PDF：${why}`,
      notInDict: "CC-CEDICT 未收录",
      copyEn: "复制英文引文",
      copyZh: "复制中文引文",
      copyEnLang: ZH,
      copyZhLang: ZH,
      copyEnAria: (where) => `复制英文引文 ${where}`,
      copyZhAria: (where) => `复制中文引文 ${where}`,
      copied: (text) => `已复制：${text}`,
      copyFailed: (text) => `复制失败，请手动选择并复制：${text}`,
      notFoundTitle: "未找到",
      notFound: "未找到此页面",
      searchTheReport: "检索报告",
      documents: (n) => `${n} 份文件`,
      citesInLibrary: "引用的资料库文件：",
      sideBySide: (citation) => `${citation}及其其他语言版本对照`,
      noOtherVersion: "其他语言版本中没有此段落。",
      scoreTitle: "融合得分",
      score: (s) => `得分 ${s}`,
      footnotes: "脚注",
      openParagraph: "打开段落",
      openAria: (citation) => `打开段落 ${citation}`,
      readInReport: "在报告中阅读",
      readAria: (citation) => `在报告中阅读 ${citation}`,
      matchedTerms: "匹配词：",
      closest: "最接近的段落（并非答案）",
      results: "检索结果",
      noParagraph: "未找到段落。",
      routes: { question: "问题", paragraph: "段落查找", citation: "引文查找", document: "文件" },
      overviewOf: (symbol) => `${symbol} 概览`,
      languages: "语言：",
      paragraphs: (n) => `${n} 段`,
      body: "正文",
      contents: "目录",
      noHeadings: "没有标题。",
      citing: (what) => `引用 ${what} 的段落`,
      inDocs: (docs) => `限于 ${docs}`,
      withVersions: "含其他语言版本",
      searchTitle: (q) => `${q} — 检索`,
      searching: "正在检索…",
      flagged: "资料库中没有答案，仅列出最接近的段落",
      overviewCount: (n) => `文件概览 · ${n} 个引用段落`,
      resultCount: (n, route) => `${n} 条结果 · ${route}`,
      modeName: (m) => ({ hybrid: "混合", lexical: "关键词", dense: "语义" })[m] || m,
      resultsFor: "检索结果：",
      citations: "引文",
      citeHelp: "请给出决议、文件编号或条款：",
      citingTitle: (what) => `引用 ${what}`,
      lookingUp: "正在查找…",
      paragraphsQ: (q) => `段落 ${q}`,
      inLibraryReadIt: (symbol) => `${symbol} 在资料库中：`,
      readIt: "阅读",
      kinds: { resolution: "决议", symbol: "文件", article: "条款" },
      article: (n) => `第 ${n} 条`,
      everyCiting: (what) => `引用 ${what} 的所有段落`,
      choose: (n, part, count) => `${part ? `${part}的` : ""}第 ${n} 段见于 ${count} 个文件版本，请选择：`,
      loading: "正在加载…",
      pagerLabel: "上一段和下一段",
      pagerBelow: "上一段和下一段（正文下方）",
      previous: (c) => `上一段：${c}`,
      next: (c) => `下一段：${c}`,
      footnoteRef: (m) => `脚注 ${m}`,
      footnoteBack: (m) => `返回脚注 ${m} 所在的正文`,
      otherVersions: "其他语言版本：",
      items: "分项",
      citedHere: "本段引用",
      eachLink: (multi) => `每个链接列出${multi ? "资料库" : "报告"}中引用同一内容的所有段落。`,
      inItem: (x) => `分项 (${x}) 中`,
      inFootnote: (m) => `脚注 ${m} 中`,
      inLibraryDash: " — 资料库中有此文件：",
      searchTheLibrary: "检索资料库",
      askReport: "向报告提问",
      askLibrary: "向资料库提问",
      intro: "用中文或英文提问，即可得到回答问题的编号段落：答案句子会突出显示，每个段落都按联合国格式引用。将鼠标移到中文词语上、点按词语，或用 Tab 键移到词语后按 Enter 键，即可查看英文释义。",
      try: "试试",
      browseParagraphs: (n) => `浏览全部 ${n} 个段落`,
      browseDocuments: (n) => `浏览全部 ${n} 份文件`,
    },
  };

  /** The interface language the reader chose ("zh" or "en"), else the browser's. */
  function initialUiLang() {
    let saved = null;
    try {
      saved = localStorage.getItem(UI_LANG_KEY);
    } catch (e) { /* storage refused */ }
    if (saved === "zh" || saved === "en") return saved;
    return /^zh\b/i.test(navigator.language || "") ? "zh" : "en";
  }

  let uiLang = initialUiLang();
  const uiZh = () => uiLang === "zh";

  /** The interface text `key` in the reader's language (a function is called with `args`). */
  function t(key, ...args) {
    const v = key in UI[uiLang] ? UI[uiLang][key] : UI.en[key];
    return typeof v === "function" ? v(...args) : v === undefined ? key : v;
  }

  /** The lang attribute of a text that may be Chinese or English (a query, a term). */
  const langOf = (s) => (HAN.test(String(s)) ? ZH : "en");

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
    // the server's messages are in English (marked so, in the Chinese interface too); the page's own in the UI's
    where.append(el("p", { class: "error", role: "alert", lang: err instanceof ApiError && err.status > 0 ? "en" : null }, msg));
    setStatus("");
  }

  // --- the access token ----------------------------------------------------------------------------------

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

  // --- the API -------------------------------------------------------------------------------------------

  /** fetch() with the token (see PipelineCommon.makeApi), its messages in the reader's language. */
  const api = window.PipelineCommon.makeApi({
    unreachable: (why) => t("unreachable", why),
    needed: () => t("token.needed"),
    refused: () => t("token.refused"),
  });

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
  /** A language's own name, marked as in that language ("中文" is read as Chinese in the English interface). */
  const langNameEl = (l) => el("span", { lang: htmlLang(l) }, langName(l));
  /** The value of a lang attribute for text in a document version's language. */
  const htmlLang = (l) => (l === "zh" ? ZH : l || null);

  /** The URL of paragraph `n` of one document version (and annex); `extra`: more parameters ({hl: "S-E"},
   * null values left out). */
  function paragraphHref(symbol, lang, n, part, extra = null) {
    const params = new URLSearchParams();
    if (symbol) params.set("doc", symbol);
    if (lang) params.set("lang", lang);
    if (part) params.set("part", part);
    for (const [k, v] of Object.entries(extra || {})) if (v !== null && v !== undefined && v !== "") params.set(k, v);
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

  /** A paragraph's citation in the interface's style, for the names of links and buttons (aria-label), which
   * cannot mark a part in another language: "CTOC/COP/2012/7, para. 23" or "CTOC/COP/2012/7，第23段". */
  const uiCite = (symbol, n, part = "") => citeParagraph(symbol, n, uiZh() ? "zh" : "en", part);

  /** A part of a document ("annex", "annex II") as the interface names it ("附件", "附件 II"). */
  const partName = (part) => (uiZh() ? String(part).replace(/^annex\b\s*/, (m) => (m.trim() === m ? "附件" : "附件 ")) : String(part));

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

  /** The whole-report page of a document version, at paragraph `n`, the query's words marked there:
   * /doc/CTOC/COP/2012/7?lang=zh&q=…#para-23 — each segment of the symbol percent-encoded (the route takes
   * the slashes), the query percent-encoded; a paragraph of an annex is #annex-para-2 (#annex-II-para-2), the
   * anchors that page gives (pipeline.server.report.anchor). */
  function reportHref(symbol, lang, n, part = "", q = "") {
    const params = [];
    if (lang) params.push(`lang=${encodeURIComponent(lang)}`);
    if (q) params.push(`q=${encodeURIComponent(q)}`);
    const path = String(symbol).split("/").map(encodeURIComponent).join("/");
    const prefix = String(part || "").replace(/[^A-Za-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
    return `/doc/${path}${params.length ? `?${params.join("&")}` : ""}#${prefix ? `${prefix}-` : ""}para-${n}`;
  }

  /** The "read in the report" link of paragraph `n`; null without a document symbol. */
  function reportLink(symbol, lang, n, part, q, citation) {
    if (!symbol) return null;
    return el("a", { class: "read-doc", href: reportHref(symbol, lang, n, part, q), "aria-label": t("readAria", citation) },
      t("readInReport"));
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
      "aria-label": t("pdfPage", citation, n),
      onclick: openWithToken,
    }, el("span", { lang: zh ? ZH : "en" }, zh ? `第 ${n} 页` : `p. ${n}`));
  }

  /** Links to an original file fetch it with the token when the page holds one (PipelineCommon). */
  const openWithToken = window.PipelineCommon.makeOpenWithToken(api, (why) => setStatus(t("pdfFailed", why)));

  /** The library filters of a URL's parameters: {docs, lang, parallel}. Parallel versions are on unless the
   * URL says parallel=0 (the reader unticked them). */
  function filtersOf(params) {
    return {
      docs: params.getAll("doc").map((d) => d.trim()).filter(Boolean),
      lang: (params.get("lang") || "").trim(),
      parallel: !/^(0|false|off|no)$/i.test((params.get("parallel") || "").trim()),
    };
  }

  /** Add the filters to URL parameters: the page's (parallel=0 when the versions are off; on is the default)
   * or the API's (parallel=true when on: the caller turns it off for a library without versions). */
  function addFilters(params, f, api = false) {
    for (const d of f.docs || []) params.append("doc", d);
    if (f.lang) params.set("lang", f.lang);
    if (api ? f.parallel : !f.parallel) params.set("parallel", api ? "true" : "0");
    return params;
  }

  /** The filters an API request sends: parallel versions only when the library has some. */
  const apiFilters = (f, lib) => ({ ...f, parallel: Boolean(f.parallel && lib && lib.hasVersions) });

  /** "S-E" (code-point offsets, as the hl= parameter gives them) → [S, E], or null. */
  function spanParam(v) {
    const m = /^(\d+)-(\d+)$/.exec(String(v || "").trim());
    return m && Number(m[2]) > Number(m[1]) ? [Number(m[1]), Number(m[2])] : null;
  }

  /** A [start, end] of the API (or null) as the hl= parameter writes it, "S-E"; null when it is empty. */
  function spanArg(span) {
    if (!Array.isArray(span) || span.length !== 2) return null;
    const [a, b] = span.map(Number);
    return Number.isInteger(a) && Number.isInteger(b) && b > a && a >= 0 ? `${a}-${b}` : null;
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
    // a word inside a link (a citation) is reached through the link: no button in a link
    for (const w of frag.querySelectorAll("a [role=button]")) {
      w.removeAttribute("role");
      w.removeAttribute("tabindex");
      w.removeAttribute("aria-expanded");
    }
    container.replaceChildren(frag);
  }

  const answerMark = () => el("mark", { class: "hl" });
  const termMark = () => el("mark", { class: "term" });
  const citeMark = () => el("mark", { class: "cite-hit" });

  /** The layer of a [start, end] span in code points of `text` (the answer), made by `make`; [] when empty. */
  function spanLayer(text, span, make = answerMark) {
    if (!Array.isArray(span) || span.length !== 2) return [];
    const unit = cpToUnit(text);
    const at = (i) => Math.max(0, Math.min(unit(Math.max(0, Number(i) || 0)), text.length));
    const start = at(span[0]);
    const end = at(span[1]);
    return end > start ? [{ start, end, make }] : [];
  }

  /** The layer of a text's sentence beads (`beads`: [{span: [start, end] in code points, key}]): each span
   * wrapped in span.bead[data-bead=key], the key naming the bead (or beads, space-separated) it is aligned
   * with in the other column. */
  function beadLayer(text, beads) {
    const ranges = [];
    for (const b of beads) {
      const make = () => el("span", { class: "bead", dataset: { bead: b.key } });
      for (const r of spanLayer(text, b.span, make)) ranges.push(r);
    }
    return mergeRanges(ranges);
  }

  /** Hovering or focusing into a bead of one column marks (class "linked") every bead of `group` with a key
   * in common: the sentences that say the same in each language. */
  function linkBeads(group) {
    const keysOf = (b) => String((b && b.dataset.bead) || "").split(" ").filter(Boolean);
    const beadAt = (node) => (node && node.closest ? node.closest(".bead") : null);
    let on = null;
    const set = (bead) => {
      if (bead === on) return;
      on = bead;
      const keys = keysOf(bead);
      for (const b of group.querySelectorAll(".bead")) b.classList.toggle("linked", keysOf(b).some((k) => keys.includes(k)));
    };
    group.addEventListener("mouseover", (ev) => set(beadAt(ev.target)));
    group.addEventListener("mouseleave", () => set(group.contains(document.activeElement) ? beadAt(document.activeElement) : null));
    group.addEventListener("focusin", (ev) => set(beadAt(ev.target)));
    group.addEventListener("focusout", (ev) => {
      if (!group.contains(ev.relatedTarget)) set(null);
    });
  }

  /** The number of code points of `text` (the API's offsets count them). */
  const cpLength = (text) => [...text].length;

  /** How an index term of the API (`terms`) is found in a text: a Chinese term as a substring, a number as a
   * whole number, a Latin stem ("fraudul", "countri") as the start of a word — the whole word is matched,
   * a stem's final "i" standing for "y" too ("country") — case-insensitively. Null for an empty term. */
  function termRegex(term) {
    const s = typeof term === "string" ? term.trim() : "";
    if (!s) return null;
    try {
      if (HAN.test(s)) return new RegExp(escapeRe(s), "gu");
      if (/^[0-9][0-9.,]*$/.test(s)) return new RegExp(`(?<![0-9])${escapeRe(s)}(?![0-9])`, "gu");
      const stem = /^\p{L}+$/u.test(s) && s.length > 2 && s.endsWith("i") ? `${escapeRe(s.slice(0, -1))}[iy]` : escapeRe(s);
      return new RegExp(`(?<![\\p{L}\\p{N}])${stem}[\\p{L}\\p{M}]*`, "giu");
    } catch (e) {
      return null;
    }
  }

  /** Where the query's matched terms stand in `text` (see termRegex). */
  function termRanges(text, terms) {
    const ranges = [];
    for (const term of terms || []) {
      const re = termRegex(term);
      if (!re) continue;
      for (const m of text.matchAll(re)) {
        if (m[0].length) ranges.push({ start: m.index, end: m.index + m[0].length });
      }
    }
    return mergeRanges(ranges, termMark);
  }

  /** The matched terms as a reader knows them. The API gives index terms — Chinese words, numbers,
   * identifier keys and English *stems* ("fraudul", "medicin") — so each term is shown as the word it
   * matched: the query's own word when the query has one ("fraudulent"), else the form most often found in
   * `texts` (the results' paragraphs); "article:28" as "article 28". A term found in neither is left out
   * (it marks nothing: a Chinese translation of an English query matched in paragraphs not listed). Returns
   * [{term, word}], one per distinct word, in the API's order. */
  function termWords(terms, query, texts) {
    const out = [];
    const seen = new Set();
    for (const raw of terms || []) {
      const term = String(raw).trim();
      const re = termRegex(term);
      let word = null;
      const art = /^article:(.+)$/.exec(term);
      if (art) word = t("article", art[1]);
      else if (re && !HAN.test(term) && /\p{L}/u.test(term)) {
        const found = [...String(query || "").matchAll(re)].map((m) => m[0]);
        if (found.length) word = found[0];
        else {
          const counts = new Map();
          for (const text of texts) {
            for (const m of String(text).matchAll(re)) {
              const w = m[0].toLowerCase() === m[0] || !/^\p{Lu}\p{Ll}/u.test(m[0]) ? m[0] : m[0].toLowerCase();
              counts.set(w, (counts.get(w) || 0) + 1);
            }
          }
          if (counts.size) word = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0][0];
          else if (!/^\p{L}+$/u.test(term)) word = term; // an identifier key (S/2009/146, 65/230)
        }
      } else if (re && [query, ...texts].some((x) => String(x || "").search(re) >= 0)) {
        word = term; // Chinese words and numbers are words of the text already (shown when they mark something)
      }
      if (!word || seen.has(word.toLowerCase())) continue;
      seen.add(word.toLowerCase());
      out.push({ term, word });
    }
    return out;
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
      // a word with glosses is a disclosure button: Tab reaches it, Enter or Space opens its gloss, Esc closes
      const keyed = glosses.length ? { role: "button", tabindex: "0", "aria-expanded": "false" } : null;
      out.push({
        start,
        end: start + t.length,
        make: () => el("span", { class: "w", ...keyed, dataset: { gloss: glosses.join("; "), word: t } }),
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
      glossText ? el("span", { class: "tip-gloss", lang: "en" }, glossText) : el("span", { class: "tip-none" }, t("notInDict")),
    );
    tip.hidden = false;
    if (tipFor && tipFor !== word) closeWord(tipFor);
    tipFor = word;
    tipPinned = pinned;
    word.classList.add("tip-on");
    word.setAttribute("aria-describedby", "gloss-tip");
    if (word.hasAttribute("aria-expanded")) word.setAttribute("aria-expanded", "true");
    // a screen reader hears the gloss it opened (a description is read only when the word is reached)
    if (pinned) $("#gloss-live").textContent = `${word.dataset.word || word.textContent}: ${glossText || t("notInDict")}`;
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

  function closeWord(word) {
    word.classList.remove("tip-on");
    word.removeAttribute("aria-describedby");
    if (word.hasAttribute("aria-expanded")) word.setAttribute("aria-expanded", "false");
  }

  function hideTip() {
    const tip = $("#gloss-tip");
    if (tip) tip.hidden = true;
    if (tipFor) closeWord(tipFor);
    tipFor = null;
    tipPinned = false;
    const live = $("#gloss-live");
    if (live) live.textContent = "";
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
      if (ev.key === "Escape" && tipFor) {
        hideTip();
        return;
      }
      const w = ev.target && ev.target.matches && ev.target.matches("[data-gloss][role=button]") ? ev.target : null;
      if (!w || (ev.key !== "Enter" && ev.key !== " ") || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      ev.preventDefault(); // Space would scroll the page
      if (tipPinned && tipFor === w) hideTip();
      else showTip(w, true);
    });
    // Tab away from an open word closes its gloss (a click elsewhere does too)
    document.addEventListener("focusout", (ev) => {
      if (tipFor && ev.target === tipFor && !(ev.relatedTarget && tipFor.contains(ev.relatedTarget))) hideTip();
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
    const where = uiCite(symbol, n, part);
    const button = (label, lang, style, aria) => el("button", {
      type: "button",
      class: "plain copy-cite",
      lang,
      dataset: Object.assign({ lang: style, paragraph: String(n), document: symbol || "" }, part ? { part } : {}),
      "aria-label": aria,
      onclick: async () => {
        const text = citeParagraph(symbol, n, style, part);
        const ok = await copyText(text);
        note.textContent = ok ? t("copied", text) : t("copyFailed", text);
        clearTimeout(timer);
        if (ok) timer = setTimeout(() => { note.textContent = ""; }, 4000);
      },
    }, label);
    return el("div", { class: "actions" },
      button(t("copyEn"), t("copyEnLang"), "en", t("copyEnAria", where)),
      button(t("copyZh"), t("copyZhLang"), "zh", t("copyZhAria", where)),
      ...extra,
      note);
  }

  // --- navigation ----------------------------------------------------------------------------------------

  const ROUTE = /^\/(?:$|index\.html$|p\/\d+\/?$|cite\/?$|batch\/?$)/;

  let focusAfter = false; // a followed link moves focus (and the view) to the new page's heading

  function navigate(url, replace = false, focus = false) {
    const target = new URL(url, location.href);
    focusAfter = focus;
    restoreY = null;
    const same = target.pathname + target.search === location.pathname + location.search;
    if (replace || same) history.replaceState(null, "", target.pathname + target.search + target.hash);
    else {
      saveScroll();
      history.pushState(null, "", target.pathname + target.search + target.hash);
    }
    route();
  }

  // The scroll position of each history entry is kept in its state (history.state.scrollY), saved as the
  // reader scrolls and before a link is followed; Back and Forward (and a reload) put it back once the view
  // is complete — the browser's own restoring would scroll a view that is still loading.
  let restoreY = null; // where the view being built is to be scrolled when complete (null: leave it)
  let scrollTimer = 0;

  function saveScroll() {
    clearTimeout(scrollTimer);
    scrollTimer = 0;
    try {
      const state = history.state && typeof history.state === "object" ? history.state : {};
      history.replaceState({ ...state, scrollY: Math.round(window.scrollY) }, "");
    } catch (e) { /* a refused replaceState only loses the position */ }
  }

  const savedScroll = () => (history.state && Number.isFinite(history.state.scrollY) ? history.state.scrollY : null);

  function initScroll() {
    if ("scrollRestoration" in history) history.scrollRestoration = "manual";
    window.addEventListener("scroll", () => {
      if (!document.body.dataset.ready) return; // a view being built moves the page itself
      clearTimeout(scrollTimer);
      scrollTimer = setTimeout(saveScroll, 150);
    }, { passive: true });
    window.addEventListener("pagehide", saveScroll);
    restoreY = savedScroll(); // a reload, or Back from another page (the whole-report page)
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
      clearTimeout(scrollTimer); // a position still to save belonged to the entry left
      scrollTimer = 0;
      restoreY = savedScroll();
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

  /** The search form's library filters as they stand: {docs, lang, parallel} (parallel stays on, the
   * default, while the library offers no versions: the box is hidden then). */
  function formFilters() {
    const doc = $("#doc").value;
    return {
      docs: doc ? [doc] : [],
      lang: $("#lang").value,
      parallel: $("#parallel").checked || $("#parallel-field").hidden,
    };
  }

  // The number of results: the server's default (5) until the reader picks one; a URL that names k (or a
  // search after a pick) keeps it, so a shared URL shows as many results.
  let kChosen = false;

  /** Show `k` (a URL's k=, or "" for the default) in the form's selector, adding a value it lacks. */
  function syncK(k) {
    const sel = $("#k");
    kChosen = /^\d+$/.test(k || "") && Number(k) > 0;
    const v = kChosen ? String(Number(k)) : "5";
    if (![...sel.options].some((o) => o.value === v)) {
      const after = [...sel.options].find((o) => Number(o.value) > Number(v));
      sel.insertBefore(el("option", { value: v }, v), after || null);
    }
    sel.value = v;
  }

  function searchUrl(q) {
    const params = new URLSearchParams({ q, mode: $("#mode").value });
    if (kChosen) params.set("k", $("#k").value);
    return `/?${addFilters(params, formFilters())}`;
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
    $("#k").addEventListener("change", () => {
      kChosen = true;
    });
    for (const id of ["#mode", "#k", "#doc", "#lang", "#parallel"]) $(id).addEventListener("change", rerun);
  }

  /** Fill the document and language selectors from the library and show them when there is a choice. */
  async function initFilters() {
    const lib = await libraryOrNull();
    if (!lib) return;
    const docSel = $("#doc");
    const langSel = $("#lang");
    for (const sym of lib.symbols) {
      const titled = lib.versions(sym).find((d) => d.title);
      docSel.append(el("option", { value: sym, title: titled ? titled.title : null, lang: titled ? langOf(titled.title) : null }, sym));
    }
    for (const l of lib.langs) langSel.append(el("option", { value: l, lang: htmlLang(l) }, `${langName(l)} (${l})`));
    $("#filters").hidden = !lib.multi;
    $("#parallel-field").hidden = !lib.hasVersions;
    // the versions are on by default (a page whose URL carries no filters, a paragraph, starts so)
    syncFilters(filtersOf(new URLSearchParams(filtersInUrl(location.pathname) ? location.search : "")), !filtersInUrl(location.pathname));
  }

  /** Pages whose URL carries the search form's filters (a paragraph's doc= and lang= name the paragraph). */
  const filtersInUrl = (path) => path === "/" || path === "/index.html" || /^\/cite\/?$/.test(path);

  /** Show the URL's filters in the form (a value the selector does not offer leaves it on "all");
   * `parallelOnly`: only the parallel box (set to its default). */
  function syncFilters(f, parallelOnly = false) {
    $("#parallel").checked = f.parallel;
    if (parallelOnly) return;
    const docSel = $("#doc");
    const langSel = $("#lang");
    const doc = f.docs.length === 1 ? f.docs[0] : "";
    docSel.value = [...docSel.options].some((o) => o.value === doc) ? doc : "";
    langSel.value = [...langSel.options].some((o) => o.value === f.lang) ? f.lang : "";
  }

  function markNav(path) {
    for (const a of document.querySelectorAll("header nav a")) {
      const p = new URL(a.href).pathname;
      if ((p === "/batch" && path.startsWith("/batch")) || (p === "/" && path === "/")) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
  }

  /** How the header and titles name the library: its symbol when it holds one document. */
  const libraryName = (lib) => (lib.symbols.length === 1 ? lib.symbols[0] : t("documents", lib.symbols.length));

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
      syncK(params.get("k"));
      if (q) await showSearch(seq, q, mode, params.get("k"), filters);
      else await showIntro(seq);
    } else if ((m = /^\/p\/(\d+)\/?$/.exec(path))) {
      await showParagraph(seq, Number(m[1]), filters.docs[0] || "", filters.lang, (params.get("part") || "").trim());
    } else if (/^\/cite\/?$/.test(path)) {
      await showCite(seq, (params.get("q") || "").trim(), filters);
    } else if (/^\/batch\/?$/.test(path)) {
      showBatch(seq);
    } else {
      setTitle(t("notFoundTitle"));
      view().append(el("h1", null, t("notFound")), el("p", null, el("a", { href: "/" }, t("searchTheReport"))));
    }
    if (current(seq)) {
      settleFocus();
      if (restoreY !== null) {
        window.scrollTo(0, restoreY);
        restoreY = null;
      }
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
    const text = String(hit.text || "");
    const unit = cpToUnit(text);
    const layers = [];
    const span = Array.isArray(hit.answer_span) ? hit.answer_span.map(Number) : [0, 0];
    if (span[1] > span[0]) layers.push([{ start: unit(span[0]), end: unit(span[1]), make: answerMark }]);
    const wholeAnswer = span[1] > span[0] && span[0] <= 0 && span[1] >= cpLength(text);
    // the same paragraph in the document's other language versions (parallel=true), with their sentence
    // alignment and, for a question, the sentences aligned with the answer
    const versions = Array.isArray(hit.parallel) ? hit.parallel.filter((v) => v && v.lang) : null;
    // a question's answer is marked on the paragraph page too, in this version and the others (hl, hl.xx):
    // in a library with versions (where they were asked for), a library of one version's links are as before
    const question = data.route === "question" && versions !== null;
    const marks = {};
    if (question && !wholeAnswer) marks.hl = spanArg(span);
    if (question) for (const v of versions || []) marks[`hl.${v.lang}`] = spanArg(v.answer_span);
    const href = paragraphHref(symbol, lang, n, part, marks);
    // the beads: the hit's sentences as aligned with the first version that has an alignment (its bead index
    // is the key); another version's bead takes the keys of those its hit sentences overlap
    const canon = (versions || []).find((v) => Array.isArray(v.alignment) && v.alignment.length) || null;
    const hitBeads = canon ? canon.alignment.map((b, i) => ({ span: b && b.source, key: String(i) })).filter((b) => Array.isArray(b.span)) : [];
    if (hitBeads.length) layers.push(beadLayer(text, hitBeads));
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
    const linksEl = links.length ? el("p", { class: "links" }, t("citesInLibrary"),
      links.map((sym, i) => [i ? ", " : "", el("a", { class: "doc-link", href: documentHref(lib, sym, lang), dataset: { document: sym } }, sym)])) : null;

    // the versions beside the hit's text, in columns: each version's text with its answer (the sentences
    // aligned with the hit's; all of it when the hit's answer is its whole text), the query's terms and beads
    const named = uiCite(symbol, n, part); // names the paragraph in the interface's language (aria-labels)
    const versionCols = (versions || []).map((v) => {
      const vlang = String(v.lang);
      const vtext = String(v.text || "");
      const vspan = Array.isArray(v.answer_span) ? v.answer_span : wholeAnswer ? [0, cpLength(vtext)] : null;
      const beads = (Array.isArray(v.alignment) ? v.alignment : []).map((b, i) => {
        if (!b || !Array.isArray(b.target)) return null;
        if (v === canon) return { span: b.target, key: String(i) };
        const src = Array.isArray(b.source) ? b.source : null;
        const keys = src ? hitBeads.filter((h) => h.span[0] < src[1] && src[0] < h.span[1]).map((h) => h.key) : [];
        return keys.length ? { span: b.target, key: keys.join(" ") } : null;
      }).filter(Boolean);
      const vlayers = [spanLayer(vtext, vspan), beadLayer(vtext, beads)];
      if (data.terms && data.terms.length) vlayers.push(termRanges(vtext, data.terms));
      const vmarks = question ? { hl: spanArg(v.answer_span), [`hl.${lang}`]: wholeAnswer ? null : spanArg(span) } : null;
      const body = el("p", { class: "text", lang: htmlLang(vlang) });
      renderRich(body, vtext, vlayers);
      const section = el("section", { class: "version", dataset: { lang: vlang } },
        el("h3", null, el("a", { href: paragraphHref(symbol, vlang, n, part, vmarks), lang: htmlLang(vlang) }, String(v.citation || "")),
          el("span", { class: "muted" }, " · ", langNameEl(vlang))),
        body);
      return { text: vtext, body, layers: vlayers, section };
    });
    let parallelEl = null;
    if (versionCols.length) {
      parallelEl = el("div", { class: "parallel side-by-side", role: "group", "aria-label": t("sideBySide", named) },
        el("section", { class: "version own", dataset: { lang } }, el("h3", null, langNameEl(lang)), textEl),
        versionCols.map((c) => c.section));
      linkBeads(parallelEl);
    } else if (versions && lib && lib.versions(symbol).length > 1) {
      // the document has other versions, but none has this paragraph (an annex only in English)
      parallelEl = el("p", { class: "parallel none muted" }, t("noOtherVersion"));
    }

    const score = typeof hit.score === "number" ? hit.score : Number(hit.score);
    const pageEl = pageLink(lib, symbol, lang, hit.page, named);
    const dataset = { paragraph: String(n), document: symbol, lang };
    if (part) dataset.part = part;
    const card = el("li", { class: "card result", dataset },
      el("div", { class: "card-head" },
        el("h2", { class: "num" }, el("a", { class: "citation", href, lang: textLang }, citation)),
        pageEl,
        sectionPath(hit.section, lang),
        Number.isFinite(score) ? el("span", { class: "score", title: t("scoreTitle") }, t("score", score.toFixed(3))) : null),
      versionCols.length ? parallelEl : textEl,
      footnotes.length ? el("ol", { class: "result-footnotes", "aria-label": t("footnotes") }, footnotes) : null,
      linksEl,
      versionCols.length ? null : parallelEl,
      copyActions({ symbol, n, part }, el("a", { class: "open", href, "aria-label": t("openAria", named) }, t("openParagraph")),
        reportLink(symbol, lang, n, part, String(data.query || ""), named)));

    const glossOne = (body, full, bodyLayers) => (HAN.test(full) ? gloss(full) : Promise.resolve(null)).then((words) => {
      if (words && body.isConnected) renderRich(body, full, [...bodyLayers, wordRanges(words)]);
    });
    const addGloss = () => Promise.all([glossOne(textEl, text, layers), ...versionCols.map((c) => glossOne(c.body, c.text, c.layers))]);
    return [card, addGloss];
  }

  /** The note above the results of a question the library does not seem to answer (`no_answer`): in English,
   * and in Chinese too for a question asked in Chinese (the page names Chinese things in Chinese). A notice,
   * not an error: the closest paragraphs are still listed below it. */
  function noAnswerNote(data, hasResults) {
    const zh = HAN.test(String(data.query || ""));
    const en = el("span", { lang: "en" }, hasResults ? NO_ANSWER.en : NO_ANSWER.enNone);
    const zhNote = el("span", { lang: ZH }, hasResults ? NO_ANSWER.zh : NO_ANSWER.zhNone);
    // in the interface's language first; in the question's language too when that is the other one
    return el("p", { class: "notice no-answer", role: "status", dataset: { noAnswer: "true" } },
      uiZh() ? [zhNote, zh ? null : [" ", en]] : [en, zh ? [" ", zhNote] : null]);
  }

  /** The server's warning that a hit's paragraph is missing in another version (pipeline.retrieve._decorate). */
  const MISSING_VERSION = /: the [a-z]{2} version has no paragraph \d+$/;

  function renderAnswer(data, heading, lib) {
    const noAnswer = data.no_answer === true;
    const out = el("div", { class: noAnswer ? "answer no-answer-answer" : "answer" });
    if (heading) out.append(heading);
    // a version that lacks a hit's paragraph is said on the hit's card ("noOtherVersion"), not above them all
    const cardSays = (w) => Array.isArray(data.results) && data.results.some((h) => Array.isArray(h.parallel)) && MISSING_VERSION.test(w);
    for (const w of (data.warnings || []).map(String).filter((w) => !cardSays(w))) out.append(el("p", { class: "warning", role: "note", lang: "en" }, w));
    const results = data.results || [];
    const words = termWords(data.terms, data.query, results.map((h) => String(h.text || "")));
    if (words.length) {
      out.append(el("p", { class: "terms" }, t("matchedTerms"),
        words.map(({ term, word }) => el("span", { class: "chip", lang: langOf(word), dataset: { term } }, word))));
    }
    if (noAnswer) out.append(noAnswerNote(data, results.length > 0));
    // flagged: the hits are only the closest paragraphs, shown in a quieter style
    const list = el("ol", noAnswer
      ? { class: "results closest", "aria-label": t("closest") }
      : { class: "results", "aria-label": t("results") });
    const glossers = [];
    for (const hit of results) {
      const [card, addGloss] = resultCard(hit, data, lib);
      list.append(card);
      glossers.push(addGloss);
    }
    if (results.length) out.append(list);
    else out.append(el("p", { class: "muted" }, t("noParagraph")));
    return [out, () => Promise.all(glossers.map((g) => g()))];
  }


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
      ov.title ? [" — ", el("span", { class: "doc-title", lang: langOf(ov.title) }, String(ov.title))] : null);
    const languages = (ov.languages || []).map(String);
    const ranges = (ov.ranges || []).map((r) => `${r.part ? partName(r.part) : t("body")} ${spanText(r.first, r.last)}`);
    const section = el("section", { class: "overview", "aria-label": t("overviewOf", symbol), dataset: { document: symbol } },
      heading,
      el("p", { class: "overview-meta" },
        el("span", { class: "languages" }, t("languages"), languages.map((l, i) => [i ? ", " : "",
          el("span", { dataset: { lang: l }, class: l === lang ? "current" : null, lang: htmlLang(l) }, langName(l))])),
        " · ",
        el("span", { class: "paragraph-count" }, t("paragraphs", Number(ov.paragraphs) || 0)),
        ranges.length ? ` (${ranges.join("; ")})` : ""));
    for (const w of data.warnings || []) section.append(el("p", { class: "warning", role: "note", lang: "en" }, String(w)));
    const sections = ov.sections || [];
    if (sections.length) {
      const toc = el("ol", { class: "toc", "aria-label": t("contents") });
      let part = "";
      for (const s of sections) {
        const sPart = String(s.part || "");
        if (sPart !== part) {
          part = sPart;
          toc.append(el("li", { class: "toc-part", dataset: { part } }, partName(part)));
        }
        const level = Math.max(1, Math.min(Number(s.level) || 1, 4));
        toc.append(el("li", { class: `toc-entry toc-level-${level}`, dataset: { level: String(level), first: String(s.first), last: String(s.last) } },
          el("span", { class: "toc-heading", lang: textLang }, String(s.heading || "")), " ",
          el("a", { class: "toc-range", href: paragraphHref(symbol, lang, s.first, sPart) }, spanText(s.first, s.last))));
      }
      section.append(el("h2", null, t("contents")), toc);
    } else {
      section.append(el("p", { class: "muted" }, t("noHeadings")));
    }
    out.append(section);
    const results = data.results || [];
    if (!results.length) return [out, () => Promise.resolve()];
    const [hits, addGloss] = renderAnswer({ ...data, warnings: [] },
      el("h2", { class: "citing-title" }, t("citing", symbol), el("span", { class: "muted" }, ` (${results.length})`)), lib);
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
    if (f.docs && f.docs.length) parts.push(t("inDocs", f.docs.join(", ")));
    if (f.lang) parts.push(t("langNames")[f.lang] || f.lang);
    if (f.parallel) parts.push(t("withVersions"));
    return parts.join(" · ");
  }

  async function showSearch(seq, q, mode, k, filters) {
    setTitle(t("searchTitle", q));
    setStatus(t("searching"));
    const t0 = performance.now();
    let data;
    // the library first (loaded once per page): the versions are asked for only when it has some
    const lib = await libraryOrNull();
    if (!current(seq)) return;
    const asked = apiFilters(filters, lib);
    const params = addFilters(new URLSearchParams({ q, mode }), asked, true);
    if (k && /^\d+$/.test(k)) params.set("k", k);
    try {
      data = await getJSON(`/api/search?${params}`);
    } catch (e) {
      if (current(seq)) showError(e);
      return;
    }
    if (!current(seq)) return;
    const ms = Math.round(performance.now() - t0);
    const n = (data.results || []).length;
    const routeName = t("routes")[data.route] || data.route || "";
    const scope = filtersText(asked);
    const flagged = data.no_answer === true ? ` · ${t("flagged")}` : "";
    const counted = data.overview ? t("overviewCount", n) : t("resultCount", n, routeName);
    setStatus(`${counted}${data.route === "question" ? ` · ${t("modeName", mode)}` : ""}${flagged}${scope ? ` · ${scope}` : ""} · ${ms} ms`);
    const heading = el("h1", { class: "results-title" }, t("resultsFor"), el("q", { class: "query", lang: langOf(q) }, q));
    const [out, addGloss] = data.route === "document" && data.overview ? renderOverview(data, lib) : renderAnswer(data, heading, lib);
    view().replaceChildren(out);
    settleFocus();
    await addGloss();
  }

  async function showCite(seq, q, filters) {
    if (!q) {
      setTitle(t("citations"));
      view().append(el("h1", null, t("citations")), el("p", null, t("citeHelp"),
        el("a", { href: "/cite?q=65%2F230" }, "/cite?q=65/230")));
      return;
    }
    setTitle(t("citingTitle", citationLabel(q)));
    setStatus(t("lookingUp"));
    let data;
    const lib = await libraryOrNull();
    if (!current(seq)) return;
    try {
      data = await getJSON(`/api/cite?${addFilters(new URLSearchParams({ q }), apiFilters(filters, lib), true)}`);
    } catch (e) {
      if (current(seq)) {
        view().append(el("h1", null, t("citingTitle", citationLabel(q))));
        showError(e);
      }
      return;
    }
    if (!current(seq)) return;
    const n = (data.results || []).length;
    setStatus(t("paragraphs", n));
    if (data.route === "document" && data.overview) {
      const [out, addGloss] = renderOverview(data, lib);
      view().replaceChildren(out);
      settleFocus();
      await addGloss();
      return;
    }
    const heading = el("h1", null, data.route === "paragraph" ? t("paragraphsQ", q) : t("citing", citationLabel(q)),
      el("span", { class: "muted" }, ` (${n})`));
    const [out, addGloss] = renderAnswer(data, heading, lib);
    // a cited document that is itself in the library: a way into it
    const doc = data.route === "citation" && lib ? lib.find(q) : null;
    if (doc) {
      heading.after(el("p", { class: "links" }, t("inLibraryReadIt", doc.symbol),
        el("a", { class: "doc-link", href: documentHref(lib, doc.symbol, doc.lang), dataset: { document: doc.symbol } }, t("readIt"))));
    }
    view().replaceChildren(out);
    settleFocus();
    await addGloss();
  }

  // --- one paragraph -------------------------------------------------------------------------------------

  /** A citation key as a reader (and the citation router) knows it: "article:28" → "article 28". */
  function citationQuery(key) {
    const m = /^article:(.+)$/.exec(key);
    return m ? `article ${m[1]}` : key;
  }

  /** A citation key as the page names it, in the interface's language: "article:28" → "article 28" ("第 28 条"). */
  function citationLabel(key) {
    const m = /^article:(.+)$/.exec(key);
    return m ? t("article", m[1]) : key;
  }

  /** "resolution 1851 (2008)", "document S/2012/50", "article 28": a citation as a reader names it. */
  function citationName(c) {
    const key = String(c.key);
    if (c.kind === "article") return citationLabel(key);
    return `${t("kinds")[c.kind] || c.kind} ${c.kind === "resolution" && c.text ? String(c.text) : key}`;
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
        title: t("everyCiting", citationLabel(String(c.key))),
        dataset: { key: String(c.key) },
      }),
    })));
  }

  /** A paragraph record's text and items where they stand in its full text (the text, then one "(a) item"
   * line each, as a search hit and the glosses have it): [{label, text, at}], label null for the text, `at`
   * where its own text starts in the full text; and the full text. */
  function paragraphSegments(text, items) {
    const segs = [];
    let pos = 0;
    if (text) {
      segs.push({ label: null, text, at: 0 });
      pos = text.length + 1;
    }
    for (const it of items) {
      const prefix = `(${it.label}) `.length;
      const body = String(it.text || "");
      segs.push({ label: String(it.label), text: body, at: pos + prefix });
      pos += prefix + body.length + 1;
    }
    const full = [text, ...items.map((it) => `(${it.label}) ${it.text}`)].filter((x) => x).join("\n");
    return { segs, full };
  }

  /** The answer mark of a span of a paragraph's full text (code points, the hl= parameter) in one segment of
   * it (starting at `at`, `length` long); [] when the span is not there. */
  function segmentMark(full, span, at, length) {
    const r = spanLayer(full, span);
    if (!r.length) return [];
    const start = Math.max(r[0].start, at) - at;
    const end = Math.min(r[0].end, at + length) - at;
    return end > start ? [{ start, end, make: answerMark }] : [];
  }

  /** The column of another language version `d` of paragraph `n` (its record `rec` from /api/paragraphs):
   * a heading linking to its page (with `marks`, its hl= parameters), its text and items, `hl` (the
   * answer there) marked and its citations linked. Returns {section, addGloss}. */
  function versionColumn(rec, d, n, part, hl, marks) {
    const vlang = String(rec.lang || d.lang);
    const textLang = htmlLang(vlang);
    const items = Array.isArray(rec.items) ? rec.items : [];
    const cites = Array.isArray(rec.citations) ? rec.citations : [];
    const { segs, full } = paragraphSegments(String(rec.text || ""), items);
    const parts = segs.map((seg) => {
      const lead = seg.label === null;
      const body = el(lead ? "p" : "span", { class: lead ? "text" : "item-text", lang: textLang });
      const layers = [segmentMark(full, hl, seg.at, seg.text.length),
        citationLayer(seg.text, cites.filter((c) => c.where === (lead ? "text" : `item:${seg.label}`)))];
      renderRich(body, seg.text, layers);
      return { seg, body, layers };
    });
    const lead = parts.find((x) => x.seg.label === null);
    const itemParts = parts.filter((x) => x.seg.label !== null);
    const citation = String(rec.citation || citeParagraph(d.symbol, n, vlang === "zh" ? "zh" : "en", part));
    const section = el("section", { class: "version", dataset: { lang: vlang } },
      el("h2", null, el("a", { class: "version-link", href: paragraphHref(d.symbol, vlang, n, part, marks), lang: textLang, hreflang: vlang, dataset: { lang: vlang } }, citation),
        el("span", { class: "muted" }, " · ", langNameEl(vlang))),
      lead ? lead.body : null,
      itemParts.length ? el("ol", { class: "items", "aria-label": t("items") },
        itemParts.map((x) => el("li", null, el("span", { class: "label" }, `(${x.seg.label})`), x.body))) : null);
    const addGloss = async () => {
      const words = HAN.test(full) ? await gloss(full) : null;
      if (!words) return;
      for (const x of parts) renderRich(x.body, x.seg.text, [...x.layers, wordRanges(words, x.seg.at, x.seg.text.length)]);
    };
    return { section, addGloss };
  }

  /** Paragraph `n` (of `part`) of the document `symbol` in `lang`, beside its other language versions (the
   * URL's hl= and hl.xx= spans marked: a question's answer in each). Without a document, the paragraph of
   * the one version that has it; when several have it, a choice between them. */
  async function showParagraph(seq, n, symbol, lang, part) {
    const label = part ? `${partName(part)}${uiZh() ? "，" : ", "}¶${n}` : `¶${n}`;
    setTitle(symbol ? uiCite(symbol, n, part) : label);
    setStatus(t("loading"));
    const lib = await libraryOrNull();
    if (!current(seq)) return;
    if (lib && !(symbol && lang)) {
      const candidates = lib.having(n, part, symbol ? lib.docs.filter((d) => lib.find(symbol, d.lang) === d) : lib.docs)
        .filter((d) => !lang || d.lang === lang);
      if (candidates.length > 1) {
        setStatus("");
        view().append(el("h1", { tabindex: "-1" }, label),
          el("p", null, t("choose", n, part && partName(part), candidates.length)),
          el("ul", { class: "choices" }, candidates.map((d) => el("li", null,
            el("a", { href: paragraphHref(d.symbol, d.lang, n, part), lang: htmlLang(d.lang) },
              citeParagraph(d.symbol, n, d.lang === "zh" ? "zh" : "en", part)),
            el("span", { class: "muted" }, " · ", langNameEl(d.lang), d.title ? [" · ", el("span", { lang: langOf(d.title) }, d.title)] : null)))));
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
        view().append(el("h1", { lang: symbol ? (lang === "zh" ? ZH : "en") : null },
          symbol ? citeParagraph(symbol, n, lang === "zh" ? "zh" : "en", part) : label));
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
    setTitle(uiCite(doc, n, ppart));
    const version = lib ? lib.find(doc, plang) : null;
    const range = version ? lib.range(version, ppart) : null;

    const text = String(p.text || "");
    const items = Array.isArray(p.items) ? p.items : [];
    const footnotes = Array.isArray(p.footnotes) ? p.footnotes : [];
    const cites = Array.isArray(p.citations) ? p.citations : [];
    const byWhere = (w) => cites.filter((c) => c.where === w);
    // the answer to mark (code points of the full text: text, then items), here and in the other versions
    const urlParams = new URLSearchParams(location.search);
    const hl = spanParam(urlParams.get("hl"));
    const { segs, full } = paragraphSegments(text, items);
    const itemAt = (label) => (segs.find((x) => x.label === String(label)) || { at: -1 }).at;

    // previous and next paragraph of the same document version (and part)
    const pager = (below) => {
      const nav = el("nav", { class: "pager", "aria-label": t(below ? "pagerBelow" : "pagerLabel") });
      const first = range ? range.first : 1;
      const prev = uiCite(doc, n - 1, ppart);
      const next = uiCite(doc, n + 1, ppart);
      if (n > first) {
        nav.append(el("a", { class: "prev", href: paragraphHref(doc, plang, n - 1, ppart), rel: "prev", "aria-label": t("previous", prev) }, `← ¶${n - 1}`));
      }
      if (!range || n < range.last) {
        nav.append(el("a", { class: "next", href: paragraphHref(doc, plang, n + 1, ppart), rel: "next", "aria-label": t("next", next) }, `¶${n + 1} →`));
      }
      return nav;
    };

    // The paragraph's text with its footnote markers (where printed when the server gives the offset, else
    // after the text) and its citations as links.
    const unit = cpToUnit(text);
    const fnRef = (fn) => () => el("sup", { class: "fn-ref" },
      el("a", { href: `#fn-${fn.marker}`, id: `fnref-${fn.marker}`, "aria-label": t("footnoteRef", fn.marker) }, String(fn.marker)));
    const inserts = footnotes.map((fn) => ({
      at: Number.isInteger(fn.offset) && fn.offset >= 0 ? unit(fn.offset) : text.length,
      make: fnRef(fn),
    }));
    const textEl = el("p", { class: "text", lang: textLang });
    const textLayers = [segmentMark(full, hl, 0, text.length), citationLayer(text, byWhere("text"))];
    renderRich(textEl, text, textLayers, inserts);

    const itemEls = items.map((it) => {
      const body = el("span", { class: "item-text", lang: textLang });
      const layers = [segmentMark(full, hl, itemAt(it.label), String(it.text || "").length),
        citationLayer(String(it.text || ""), byWhere(`item:${it.label}`))];
      renderRich(body, String(it.text || ""), layers);
      return { it, body, layers, li: el("li", null, el("span", { class: "label" }, `(${it.label})`), body) };
    });

    const fnEls = footnotes.map((fn) => {
      const body = el("span", { lang: textLang });
      const layers = [citationLayer(String(fn.text || ""), byWhere(`footnote:${fn.marker}`))];
      renderRich(body, String(fn.text || ""), layers);
      return {
        fn, body, layers,
        li: el("li", { id: `fn-${fn.marker}` }, el("a", { href: `#fnref-${fn.marker}`, class: "fn-back", "aria-label": t("footnoteBack", fn.marker) }, `[${fn.marker}]`), " ", body),
      };
    });

    const keys = [];
    for (const c of cites) if (!keys.some((k) => k.key === c.key)) keys.push(c);
    const whereName = (w) => (w.startsWith("item:") ? t("inItem", w.slice(5)) : w.startsWith("footnote:") ? t("inFootnote", w.slice(9)) : "");

    // the same paragraph in the document's other language versions: each in a column beside this one (a
    // version that cannot be had, as a link)
    const others = lib ? lib.having(n, ppart, lib.versions(version ? version.symbol : doc)).filter((d) => d.lang !== plang) : [];
    const records = await Promise.all(others.map((d) => {
      const q = new URLSearchParams({ doc: d.symbol, lang: d.lang });
      if (ppart) q.set("part", ppart);
      return getJSON(`/api/paragraphs/${n}?${q}`).catch(() => null);
    }));
    if (!current(seq)) return;
    const columns = [];
    const missing = [];
    others.forEach((d, i) => {
      if (!records[i]) {
        missing.push(d);
        return;
      }
      // its page marks the same: its answer as hl=, this one's as hl.xx=
      const marks = { hl: spanArg(spanParam(urlParams.get(`hl.${d.lang}`))), [`hl.${plang}`]: spanArg(hl) };
      columns.push(versionColumn(records[i], d, n, ppart, spanParam(urlParams.get(`hl.${d.lang}`)), marks));
    });
    const versionsEl = missing.length ? el("p", { class: "versions" }, t("otherVersions"),
      missing.map((d, i) => [i ? ", " : "", el("a", { href: paragraphHref(d.symbol, d.lang, n, ppart), lang: htmlLang(d.lang), hreflang: d.lang, dataset: { lang: d.lang } },
        langName(d.lang))])) : null;
    const itemsEl = itemEls.length ? el("ol", { class: "items", "aria-label": t("items") }, itemEls.map((x) => x.li)) : null;
    const body = columns.length
      ? el("div", { class: "side-by-side", role: "group", "aria-label": t("sideBySide", uiCite(doc, n, ppart)) },
        el("section", { class: "version own", dataset: { lang: plang } }, el("h2", null, langNameEl(plang)), textEl, itemsEl),
        columns.map((c) => c.section))
      : [textEl, itemsEl];
    const multi = lib && lib.multi;

    const dataset = { paragraph: String(n), document: doc, lang: plang };
    if (ppart) dataset.part = ppart;
    const article = el("article", { class: "card paragraph", dataset, "aria-labelledby": "p-title" },
      el("h1", { id: "p-title", tabindex: "-1", lang: textLang }, citation),
      multi && version && version.title ? el("p", { class: "doc-title muted", lang: langOf(version.title) }, version.title) : null,
      el("p", { class: "crumbs" }, pageLink(lib, doc, plang, p.page, uiCite(doc, n, ppart)), sectionPath(p.section, plang)),
      body,
      fnEls.length ? el("section", { class: "footnotes", "aria-labelledby": "fn-title" },
        el("h2", { id: "fn-title" }, t("footnotes")), el("ol", { class: "fn-list" }, fnEls.map((x) => x.li))) : null,
      versionsEl,
      keys.length ? el("section", { class: "cites-in", "aria-labelledby": "ci-title" },
        el("h2", { id: "ci-title" }, t("citedHere")),
        el("p", { class: "muted hint" }, t("eachLink", multi)),
        el("ul", null, keys.map((c) => {
          const places = cites.filter((x) => x.key === c.key).map((x) => String(x.where)).filter((w) => w !== "text");
          const inLibrary = cites.some((x) => x.key === c.key && x.in_library === true);
          return el("li", null,
            el("a", { class: "cite-list-link", href: citeHref(String(c.key)) },
              citationName(c)),
            places.length ? el("span", { class: "muted" }, ` (${places.map(whereName).join(", ")})`) : null,
            inLibrary ? [t("inLibraryDash"), el("a", { class: "doc-link", href: documentHref(lib, String(c.key), plang), dataset: { document: String(c.key) } }, t("readIt"))] : null);
        }))) : null,
      copyActions({ symbol: doc, n, part: ppart }, reportLink(doc, plang, n, ppart, $("#q").value.trim(), uiCite(doc, n, ppart))));
    view().replaceChildren(pager(false), article, pager(true));
    settleFocus();

    // Glosses (Chinese text only): one request for the text and its items (the same full text a search result
    // shows), one for the footnotes, one for each version's text.
    const fnJoined = footnotes.map((fn) => String(fn.text || "")).join("\n");
    const [words, fnWords] = await Promise.all([
      HAN.test(full) ? gloss(full) : Promise.resolve(null),
      HAN.test(fnJoined) ? gloss(fnJoined) : Promise.resolve(null),
      ...columns.map((c) => c.addGloss()),
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
    setTitle(t(one ? "searchTheReport" : "searchTheLibrary"));
    const box = el("div", { class: "intro" },
      el("h1", null, t(one ? "askReport" : "askLibrary")),
      el("p", null, t("intro")),
      el("h2", null, t("try")),
      el("ul", null, EXAMPLES.map((q) => el("li", null, el("a", { href: `/?${new URLSearchParams({ q, mode: "hybrid" })}`, lang: HAN.test(q) ? ZH : "en" }, q)))));
    view().append(box);
    if (!lib || !lib.docs.length) return;
    const total = lib.docs.reduce((a, d) => a + (Number(d.paragraphs) || 0), 0);
    box.append(el("h2", null, lib.docs.length === 1 ? t("browseParagraphs", total) : t("browseDocuments", lib.docs.length)));
    for (const d of lib.docs) {
      const section = el("section", { class: "toc-doc", dataset: { document: d.symbol, lang: d.lang } });
      if (lib.docs.length > 1) {
        section.append(el("h3", null, `${d.symbol} `, el("span", { class: "muted" }, "· ", langNameEl(d.lang), ` · ${t("paragraphs", Number(d.paragraphs) || 0)}`)),
          d.title ? el("p", { class: "muted doc-title", lang: langOf(d.title) }, d.title) : null);
      }
      for (const r of d.ranges || []) {
        const nav = el("p", { class: "toc" });
        if (r.part) nav.append(el("span", { class: "muted" }, `${partName(r.part)}${uiZh() ? "：" : ": "}`));
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
  let batchShown = null; // the last batch's result parts: shown again when the reader comes back to /batch
  const BATCH_ROWS = 200; // answers put in the table at a time ("Show more" adds as many again)
  const BATCH_HITS = 3; // paragraphs shown per question in the table (the downloads have all k)
  // leaving the page (another site, a reload, closing the tab) aborts the upload: the server then stops
  window.addEventListener("pagehide", () => {
    if (batchAbort) batchAbort.abort();
  });

  function showBatch(seq) {
    setTitle(t("batch.title"));
    const fileInput = el("input", { id: "batch-file", type: "file", accept: ".jsonl,.ndjson,.csv,.txt", required: true });
    const modeSel = el("select", { id: "batch-mode" }, MODES.map((m) => el("option", { value: m }, t(`mode.${m}`))));
    const kInput = el("input", { id: "batch-k", type: "number", min: "1", max: "100", value: "5", inputmode: "numeric" });
    const docSel = el("select", { id: "batch-doc" }, el("option", { value: "" }, t("filters.allDocs")));
    const langSel = el("select", { id: "batch-lang" }, el("option", { value: "" }, t("filters.allLangs")));
    const scopeRow = el("div", { class: "field", hidden: true }, el("label", { for: "batch-doc" }, t("filters.doc")), docSel,
      el("label", { for: "batch-lang" }, t("filters.lang")), langSel);
    libraryOrNull().then((lib) => {
      if (!lib || !lib.multi) return;
      for (const sym of lib.symbols) docSel.append(el("option", { value: sym }, sym));
      for (const l of lib.langs) langSel.append(el("option", { value: l, lang: htmlLang(l) }, `${langName(l)} (${l})`));
      scopeRow.hidden = false;
    });
    const go = el("button", { type: "submit", id: "batch-go" }, t("batch.go"));
    const cancel = el("button", { type: "button", class: "plain", id: "batch-cancel", hidden: true }, t("batch.cancel"));
    const progress = el("progress", { id: "batch-progress", max: "1", value: "0" });
    const progressText = el("span", { id: "batch-progress-text", "aria-live": "polite" }, "");
    const progressRow = el("div", { class: "progress", hidden: true }, el("label", { for: "batch-progress" }, t("batch.progress")), progress, progressText);
    const result = el("div", { id: "batch-result" });

    const form = el("form", { class: "batch", id: "batch-form" },
      el("h1", null, t("batch.h1")),
      el("p", null, t("batch.intro", (c) => el("code", { lang: "en" }, c))),
      el("fieldset", null, el("legend", null, t("batch.legend")),
        el("div", { class: "field" }, el("label", { for: "batch-file" }, t("batch.file")), fileInput),
        el("div", { class: "field" }, el("label", { for: "batch-mode" }, t("batch.mode")), modeSel,
          el("label", { for: "batch-k" }, t("batch.k")), kInput),
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
      batchShown = null;
      result.replaceChildren();
      const ext = (/\.([^.]+)$/.exec(file.name) || [, ""])[1].toLowerCase();
      const type = CONTENT_TYPES[ext];
      if (!type) {
        showError(new Error(t("batch.chooseExt", file.name)), result);
        return;
      }
      const k = Math.max(1, Math.min(100, parseInt(kInput.value, 10) || 5));
      go.disabled = true;
      cancel.hidden = false;
      progressRow.hidden = false;
      progress.max = 1;
      progress.value = 0;
      progressText.textContent = t("batch.uploading");
      const abort = new AbortController();
      batchAbort = abort;
      cancel.onclick = () => abort.abort();
      try {
        const scope = { docs: docSel.value ? [docSel.value] : [], lang: langSel.value, parallel: false };
        await runBatch(file, type, modeSel.value, k, scope, abort.signal, progress, progressText, result, seq);
      } catch (e) {
        if (e && e.name === "AbortError") showError(new Error(t("batch.cancelled")), result);
        else showError(e, result);
      } finally {
        go.disabled = false;
        cancel.hidden = true;
        if (batchAbort === abort) batchAbort = null;
      }
    });
    if (batchShown) result.replaceChildren(...batchShown);
    view().append(form);
  }

  const clipText = (s, n) => (s.length > n ? `${s.slice(0, n)}…` : s);

  /** One row of the answers table: the line (and id), the question, and its top BATCH_HITS paragraphs, each
   * with its citation (a link to the paragraph) and its answer sentence (else the start of its text). */
  function batchRow(rec) {
    const query = String(rec.query || "");
    const id = rec.id === undefined || rec.id === null ? "" : String(rec.id);
    const line = rec.line === undefined || rec.line === null ? "" : String(rec.line);
    const flagged = rec.no_answer === true;
    const hits = (rec.results || []).slice(0, BATCH_HITS).map((h) => {
      const n = Number(h.paragraph);
      const symbol = String(h.document || "");
      const lang = String(h.lang || "");
      const part = String(h.part || "");
      const citation = String(h.citation || citeParagraph(symbol, n, lang === "zh" ? "zh" : "en", part));
      const answer = String(h.answer || "").trim();
      return el("li", { dataset: { paragraph: String(n), document: symbol, lang } },
        el("a", { class: "citation", href: paragraphHref(symbol, lang, n, part), lang: htmlLang(lang) }, citation), " ",
        answer ? el("mark", { class: "hl answer", lang: htmlLang(lang) }, answer)
          : el("span", { class: "muted", lang: htmlLang(lang) }, clipText(String(h.text || ""), 160)));
    });
    const dataset = { line, id };
    if (flagged) dataset.noAnswer = "true";
    return el("tr", { dataset },
      el("td", { class: "question" },
        el("span", { class: "line muted" }, `${t("batch.line", line || "?")}${id && id !== line ? ` · ${t("batch.id", id)}` : ""}`), el("br"),
        el("q", { class: "query", lang: HAN.test(query) ? ZH : "en" }, query)),
      el("td", null,
        flagged ? el("p", { class: "notice" }, uiZh() ? NO_ANSWER.zh : NO_ANSWER.en) : null,
        (rec.warnings || []).map((w) => el("p", { class: "warning", role: "note", lang: "en" }, String(w))),
        hits.length ? el("ol", { class: "batch-hits" }, hits) : el("span", { class: "muted" }, t("noParagraph"))));
  }

  /** The answers as a table, BATCH_ROWS rows at a time (a "Show more" button adds the next ones). */
  function batchTable(good) {
    const body = el("tbody");
    const more = el("button", { type: "button", class: "plain", id: "batch-more" });
    let shown = 0;
    const addRows = () => {
      const end = Math.min(good.length, shown + BATCH_ROWS);
      for (; shown < end; shown++) body.append(batchRow(good[shown].rec));
      more.hidden = shown >= good.length;
      more.textContent = t("batch.showMore", shown, good.length);
    };
    more.addEventListener("click", addRows);
    addRows();
    return [
      el("h2", { id: "batch-answers-title" }, t("batch.answers")),
      el("table", { id: "batch-answers", class: "batch-answers", "aria-labelledby": "batch-answers-title" },
        el("thead", null, el("tr", null, el("th", { scope: "col" }, t("batch.question")), el("th", { scope: "col" }, t("batch.top")))),
        body),
      more,
    ];
  }

  /** The warnings list: those about the whole file (it was read as GB18030), then each answer's. */
  function batchWarnings(fileWarnings, good) {
    const lines = good.flatMap(({ rec }) => (rec.warnings || []).map((w) => ({ rec, text: String(w) })));
    if (!fileWarnings.length && !lines.length) return [];
    return [
      el("h2", { id: "batch-warnings-title" }, t("batch.warnings")),
      el("ul", { id: "batch-warnings", class: "warnings", "aria-labelledby": "batch-warnings-title" },
        fileWarnings.map((w) => el("li", { class: "warning", lang: "en", dataset: { file: "true" } }, w)),
        lines.map(({ rec, text }) => el("li", { class: "warning", dataset: { line: String(rec.line ?? "") } },
          el("strong", null, t("batch.line", rec.line ?? "?")),
          rec.id !== undefined && rec.id !== null && String(rec.id) !== String(rec.line) ? ` (${t("batch.id", rec.id)})` : "",
          ": ", el("span", { lang: "en" }, text)))),
    ];
  }

  async function runBatch(file, type, mode, k, scope, signal, progress, progressText, result, seq) {
    const params = addFilters(new URLSearchParams({ k: String(k), mode, name: file.name }), scope, true);
    const res = await api(`/api/batch?${params}`, {
      method: "POST",
      body: file,
      headers: { "Content-Type": type },
      signal,
    });
    const total = parseInt(res.headers.get("X-Total-Lines") || "", 10);
    const good = [];
    const bad = [];
    const fileWarnings = [];
    let count = 0;
    let fatal = null;
    let painted = false;
    const paint = () => {
      painted = false;
      if (Number.isFinite(total) && total > 0) {
        progress.max = total;
        progress.value = Math.min(count, total);
        progressText.textContent = t("batch.progressOf", count, total, Math.floor((100 * Math.min(count, total)) / total));
      } else {
        progress.removeAttribute("value");
        progressText.textContent = t("batch.progressN", count);
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
      if (rec && rec.line === undefined && rec.error === undefined && Array.isArray(rec.warnings)) {
        // about the whole file (read as GB18030): shown at once, before the answers
        fileWarnings.push(...rec.warnings.map(String));
        if (current(seq)) result.replaceChildren(...batchWarnings(fileWarnings, []));
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

    // distinct names per input (questions.csv → questions.answers.csv); the CSV starts with a byte order mark,
    // so that Excel opens it as UTF-8
    const stem = file.name.replace(/\.[^.]+$/, "") || "answers";
    const jsonl = new Blob([good.map((g) => `${g.raw}\n`).join("")], { type: "application/x-ndjson" });
    const csv = new Blob(["\ufeff", toCsv(good.map((g) => g.rec))], { type: "text/csv;charset=utf-8" });
    const jsonlUrl = URL.createObjectURL(jsonl);
    const csvUrl = URL.createObjectURL(csv);
    batchUrls.push(jsonlUrl, csvUrl);

    const flagged = good.filter((g) => g.rec && g.rec.no_answer === true);
    const summary = t("batch.summary", good.length, flagged.length, bad.length, count, total);
    const parts = [
      el("p", { id: "batch-summary", role: "status" }, summary),
      el("div", { class: "downloads" },
        el("a", { id: "download-jsonl", href: jsonlUrl, download: `${stem}.answers.jsonl` }, t("batch.jsonl", good.length)),
        el("a", { id: "download-csv", href: csvUrl, download: `${stem}.answers.csv` }, t("batch.csv"))),
      ...batchWarnings(fileWarnings, good),
    ];
    if (bad.length) {
      parts.push(el("h2", null, t("batch.bad")),
        el("ul", { id: "batch-errors", class: "bad-lines" }, bad.map((b) => el("li", null,
          el("strong", null, t("batch.line", b.line ?? "?")), b.id !== undefined && b.id !== null ? ` (${t("batch.id", b.id)})` : "",
          ": ", el("span", { lang: "en" }, String(b.error))))));
    }
    if (flagged.length) {
      // answers flagged no_answer: their results are only the closest paragraphs
      parts.push(el("h2", { id: "batch-no-answer-title" }, t("batch.flagged")),
        el("p", { class: "notice" }, t("batch.flaggedNote")),
        el("ul", { id: "batch-no-answer", class: "flagged-lines", "aria-labelledby": "batch-no-answer-title" },
          flagged.map(({ rec }) => el("li", { dataset: { id: rec.id === undefined || rec.id === null ? "" : String(rec.id), noAnswer: "true" } },
            el("strong", null, rec.id !== undefined && rec.id !== null ? t("batch.id", rec.id) : t("batch.line", rec.line ?? "?")), ": ",
            el("q", { class: "query", lang: HAN.test(String(rec.query || "")) ? ZH : "en" }, String(rec.query || ""))))));
    }
    if (good.length) parts.push(...batchTable(good));
    if (current(seq)) {
      result.replaceChildren(...parts);
      batchShown = parts;
    }
    if (fatal) throw new Error(t("batch.stopped", count, Number.isFinite(total) ? total : "?", fatal));
    if (Number.isFinite(total) && count < total) throw new Error(t("batch.endedEarly", count, total));
  }

  // --- start ---------------------------------------------------------------------------------------------

  /** The header names the library (its symbol when it holds one document); the footer lists its documents. */
  function showCorpusName() {
    libraryOrNull().then((lib) => {
      if (!lib || !lib.symbols.length) return;
      $("#corpus-name").textContent = libraryName(lib);
      const list = $("#doc-list");
      if (list) {
        list.removeAttribute("data-t"); // the symbols, in either language
        list.textContent = lib.symbols.join(", ");
      }
    });
  }

  /** The page's own texts (index.html's data-t and data-t-attr) in the interface's language, <html lang>,
   * the search hint and the language switch (its buttons pressed or not). */
  function applyUiTexts() {
    document.documentElement.lang = uiZh() ? ZH : "en";
    for (const e of document.querySelectorAll("[data-t]")) e.textContent = t(e.dataset.t);
    for (const e of document.querySelectorAll("[data-t-attr]")) {
      for (const pair of e.dataset.tAttr.split(/\s+/)) {
        const i = pair.indexOf("=");
        if (i > 0) e.setAttribute(pair.slice(0, i), t(pair.slice(i + 1)));
      }
    }
    const kbd = (s) => el("kbd", null, s);
    const i = (s, lang) => el("i", { lang: lang || null }, s);
    $("#search-hint").replaceChildren(...t("hint", kbd, i));
    for (const b of document.querySelectorAll("[data-ui-lang]")) b.setAttribute("aria-pressed", String(b.dataset.uiLang === uiLang));
    $(".ui-lang").hidden = false;
    const why = $("#token-why");
    if ($("#token-form").hidden) why.textContent = t("token.needed");
    document.body.dataset.uiLang = uiLang;
  }

  /** Switch the interface to `lang` ("zh" or "en"): the page's texts, then the view (kept where it was
   * scrolled); the batch page keeps its form (a batch may be running) and only its frame changes. */
  function setUiLang(lang, remember = true) {
    if (lang !== "zh" && lang !== "en") return;
    if (remember) {
      try {
        localStorage.setItem(UI_LANG_KEY, lang);
      } catch (e) { /* storage refused: this page only */ }
    }
    if (lang === uiLang) return;
    uiLang = lang;
    applyUiTexts();
    showCorpusName();
    if (/^\/batch\/?$/.test(location.pathname)) return;
    restoreY = Math.round(window.scrollY);
    route();
  }

  function initUiLang() {
    applyUiTexts();
    for (const b of document.querySelectorAll("[data-ui-lang]")) b.addEventListener("click", () => setUiLang(b.dataset.uiLang));
    // a choice made in another tab (or on the whole-report page) applies here too
    window.addEventListener("storage", (ev) => {
      if (ev.key === UI_LANG_KEY) setUiLang(ev.newValue, false);
    });
  }

  /** On a phone the search hint is folded behind a "Tips" button (CSS shows the button there only). */
  function initHintToggle() {
    const button = $("#hint-toggle");
    const hint = $("#search-hint");
    button.addEventListener("click", () => {
      const open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", String(open));
      hint.classList.toggle("open", open);
    });
  }

  function start() {
    tokenFromHash();
    initUiLang();
    initScroll();
    initLinks();
    initKeys();
    initSearchForm();
    initHintToggle();
    initTooltip();
    route();
    showCorpusName();
    initFilters();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
