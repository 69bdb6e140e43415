"""Plain helpers shared by the tests (no fixtures: those live in ``conftest.py``, which imports from here).

Paths of the checkout (``ROOT``, ``DEV``), the fake embedder and its vectors for fast dense tests, the probe
queries of the crash and integrity tests, scratch homes and their index folders, a prefix that drops root
privileges, and the check of the server's JSON error bodies; the test reports of ``tests/data/library`` and a
retriever over a home's library (``open_library``); the bad queries of the command line and the server; a
server on a real socket (``live_server``); the library home of the server and browser tests
(``build_library_home``, ``library_retriever``); and the Qdrant backend's locations and parity checks. Tests
import them with ``from support import …`` (pytest puts ``tests/`` on ``sys.path``, as it does for
``conftest``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

if TYPE_CHECKING:
    from pipeline.config import Config
    from pipeline.server import ServerOptions

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "corpus" / "eval" / "dev.jsonl"
FAKE_DIM = 64


def fake_vector(text: str, dim: int = FAKE_DIM) -> np.ndarray:
    """A deterministic unit vector per text: a bag of hashed characters, so texts sharing characters are
    close."""
    v = np.zeros(dim, dtype=np.float32)
    for ch in text:
        v[int(hashlib.md5(ch.encode()).hexdigest(), 16) % dim] += 1.0
    return v / max(float(np.linalg.norm(v)), 1e-12)


class FakeEmbedder:
    """Stands in for both :class:`pipeline.embed.PassageEmbedder` and :class:`pipeline.embed.QueryEncoder`:
    deterministic vectors without a model, recording every text it embeds."""

    kind = "fake"

    def __init__(self, prompt: str = "passage: ", name: str = "fake-v1") -> None:
        self.prompt = prompt
        self.identity = {
            "model": name,
            "model_sha256": hashlib.sha256(name.encode()).hexdigest(),
            "passage_prompt": prompt,
        }
        self.dims = FAKE_DIM
        self.calls: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += list(texts)
        if not texts:
            return np.zeros((0, FAKE_DIM), np.float32)
        return np.stack([fake_vector(self.prompt + t) for t in texts])


def unprivileged_prefix() -> list[str]:
    """A command prefix that runs a command as nobody when we are root (root reads a mode-000 file and writes
    into a mode-555 directory); skips the test when that is not possible here."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and setpriv is not available to drop privileges")
    prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    probe = subprocess.run([*prefix, sys.executable, "-c", "import pipeline"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("running as root and nobody cannot run this interpreter")
    return prefix


#: Queries whose answers crash and integrity tests compare before and after a fault (questions and lookups).
PROBE_QUERIES = [
    "ransom paid to pirates in 2011",
    "伪药对患者有什么危害？",
    "文化财产贩运",
    "technical assistance for cybercrime",
    "索马里沿海的海盗",
    "第 41 段",
    "resolution 65/230",
]


def scratch_home(session_home: Path, dest: Path) -> Path:
    """A new home: a copy of the session's corpus/ and its dictionary caches (jieba, translator)."""
    shutil.copytree(session_home / "corpus", dest / "corpus")
    (dest / "indexes").mkdir(parents=True)
    for name in ("jieba", "translate"):
        if (session_home / "indexes" / name).is_dir():
            shutil.copytree(session_home / "indexes" / name, dest / "indexes" / name)
    return dest


def index_dir_of(home: Path, kind: str) -> Path:
    """The ``kind`` ("lexical" or "dense") index folder of the home's first catalogued report
    (``indexes/docs/KEY/kind``)."""
    from pipeline.config import Config
    from pipeline.layout import doc_dir
    from pipeline.library import load_library

    cfg = Config(root=home)
    library = load_library(cfg)
    return doc_dir(cfg, library.key(library.documents[0])) / kind


def assert_error(resp: Any, status: int, *needles: str) -> dict[str, Any]:
    """``resp`` is the server's JSON error: ``status``, a body of exactly ``{"error", "status"}`` whose
    ``error`` holds every needle, and no traceback. Returns the body."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json"), resp.headers
    body = resp.json()
    assert set(body) == {"error", "status"} and body["status"] == status, body
    assert "Traceback" not in resp.text
    for needle in needles:
        assert needle in body["error"], body
    return body


# --- the library's test reports ----------------------------------------------------------------------------

DATA = Path(__file__).parent / "data" / "library"
WG2_ZH = DATA / "ctoc-cop-wg2-2013-3.zh.txt"  # CTOC/COP/WG.2/2013/3, with an annex numbered from 1
WG2_EN = DATA / "ctoc-cop-wg2-2013-3.en.txt"  # its English version, aligned
WG2_EN_BAD = DATA / "ctoc-cop-wg2-2013-3-misaligned.en.txt"  # an English version lacking ¶6
FIREARMS = DATA / "ctoc-cop-2014-5.en.txt"  # CTOC/COP/2014/5, English, cites 65/230 like the real report
FOLLOW_UP = DATA / "ctoc-cop-2018-4.en.txt"  # CTOC/COP/2018/4, cites CTOC/COP/2012/7 and CTOC/COP/2014/5
GAP = DATA / "ctoc-cop-2015-2-gap.en.txt"  # numbering skips: does not parse
NO_SYMBOL = Path(__file__).parent / "data" / "synthetic-report.zh.txt"  # prints no symbol
REAL = "CTOC/COP/2012/7"
WG2 = "CTOC/COP/WG.2/2013/3"


def open_library(cfg: Config, analyzer: Any) -> Any:
    """A retriever over the home's library as it is on disk, with the fake embedder."""
    from pipeline.dense import load_dense_indexes
    from pipeline.lexical import load_lexical_indexes
    from pipeline.library import load_library
    from pipeline.retrieve import Retriever

    library = load_library(cfg)
    return Retriever(
        library,
        cfg=cfg,
        analyzer=analyzer,
        lexical=load_lexical_indexes(cfg, library.keyed(), analyzer),
        dense=load_dense_indexes(cfg, library.keyed(), FakeEmbedder().identity),
        encoder=FakeEmbedder(prompt="query: "),
    )


#: Bad queries: the command line and the server answer or refuse each cleanly (no traceback, nothing raw).
BAD_QUERIES = [
    "",
    " ",
    "\t\n",
    "\u200b",
    "\ufeff",
    "\u200b\u200c\u200d",
    "😀",
    "😀😀😀",
    "？",
    "。。。",
    "!!!",
    "...",
    "-",
    "--",
    "—",
    "\ue000",
    "\U000f0000",
    "\u202e",
    "\u202epirates",
    "\u200fransom\u200e",
    "\x1b[31mpirates\x1b[0m",
    "\x1b]0;title\x07",
    "\x00",
    "pirates\x00ransom",
    "\x07\x08",
    "\udcff\udcfe",
    "pirates \udcff ransom",
    "\ud800",
    "\udfff 海盗",
    "海盗" * 60_000,
    "a" * 100_001,
    "paragraph 17-15",
    "第 17 至 15 段",
    "para 65(z)",
    "para 64(a)",
    "第 0 段",
    "paragraph 999",
    "¶0",
    "§ 66",
    "第一百段",
    "paragraph ９９",
    "resolution 99/999",
    "S/1999/1",
    "article 999",
    "第 65/230 号决议" * 200,
    "１２３",
    "0",
    "00000000000000000000000001",
    "-1",
    "1e9",
    "NaN",
    "None",
    "null",
    "[]",
    "{}",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "../../etc/passwd",
    "%s%s%s%n",
    "\\x00",
    "\r\n\r\n",
    "\u2028",
    "\u2029",
    "\x0c",
    "\x0b",
    "ｐａｒａｇｒａｐｈ　４１",
    "ＲＥＳＯＬＵＴＩＯＮ　６５／２３０",
    "\u3000\u3000",
    "·",
    "（）",
    "《》",
    "第段",
    "号决议",
    "paragraph",
    "resolution",
    "article",
    "S/",
    "CTOC/COP/",
    "65/",
    "/230",
]


@contextmanager
def live_server(app: Any, options: ServerOptions | None = None) -> Iterator[int]:
    """Serve ``app`` on 127.0.0.1 (a free port) in a thread until the block ends; yields the port."""
    import uvicorn

    from pipeline.server import ServerOptions
    from pipeline.server.run import bind_socket, uvicorn_config

    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn_config(app, options or ServerOptions()))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()
        assert not thread.is_alive(), "the server did not stop"


# --- the library of the server and browser tests ------------------------------------------------------

SYNTHETIC_SYMBOL = "A/TEST/2030/1"  # the symbol tests/data/synthetic-report.zh.txt is added under
SYNTHETIC_ZH = ROOT / "tests" / "data" / "synthetic-report.zh.txt"

#: The English version of tests/data/synthetic-report.zh.txt (same numbering), with an annex.
SYNTHETIC_EN = """\
Ninth session
Geneva, 4-8 March 2030
Item 7 of the provisional agenda
New trends in transnational organized crime

Progress made in strengthening law enforcement cooperation against online fraud and wildlife trafficking

Report of the Secretary-General

I. Background

1. The present report describes the progress made by States in implementing General Assembly \
resolution 80/12, building on the technical assistance described in document CTOC/COP/2012/7.

2. The working group recalled the conclusions of the workshop entitled "Cooperation against online fraud and \
related offences", which discussed trends in online fraud.

II. Technical assistance

A. Online fraud

3. The Secretariat trained 230 investigators from 14 countries in online fraud investigation.

4. Investigators learned how to preserve electronic evidence and practised cross-border evidence \
gathering in 5 simulated cases.

5. The programme ran pilot activities in two regions and is expected to expand to other regions in 2031.

6. States agreed to strengthen cooperation in the following areas:
(a) Exchanging intelligence on fraud networks;
(b) Conducting joint investigations within the framework of resolution 80/12.

B. Wildlife trafficking

7. Wildlife trafficking remains a serious problem that requires further study.

III. Conclusions

8. The Conference may wish to consider the recommendations contained in the present report.

Annex

Recommendations of the working group

1. States should designate contact points for online fraud investigations.

2. States should share data on wildlife seizures with the Secretariat.
"""


def build_library_home(session_home: Path, dest: Path) -> Path:
    """A home with three document versions: the session's report and A/TEST/2030/1 in zh and en (indexes of
    the added reports embedded with the fake embedder)."""
    from pipeline.changes import add_reports
    from pipeline.config import Config

    h = scratch_home(session_home, dest)
    cfg = Config(root=h)
    add_reports(cfg, [SYNTHETIC_ZH], symbol=SYNTHETIC_SYMBOL, embedder=FakeEmbedder())
    en = dest.parent / f"{dest.name}-src" / "a-test-2030-1.en.txt"
    en.parent.mkdir(parents=True, exist_ok=True)
    en.write_text(SYNTHETIC_EN, encoding="utf-8")
    change = add_reports(cfg, [en], symbol=SYNTHETIC_SYMBOL, embedder=FakeEmbedder())
    assert any("only in en: annex 1, annex 2" in w for w in change.warnings), change.warnings
    return h


def library_retriever(h: Path) -> Any:
    """A hybrid retriever over the library of ``h`` with the fake embedder; indexes missing in ``h`` (the
    session report's) are built there (so the command line finds them too)."""
    from pipeline.analyze import Analyzer
    from pipeline.build import build_missing
    from pipeline.config import Config
    from pipeline.dense import load_dense_indexes
    from pipeline.lexical import load_lexical_indexes
    from pipeline.library import load_library
    from pipeline.retrieve import Retriever

    cfg = Config(root=h)
    library = load_library(cfg)
    analyzer = Analyzer(cfg)
    build_missing(cfg, library, dense=True, embedder=FakeEmbedder())
    lexical = load_lexical_indexes(cfg, library.keyed(), analyzer)
    dense = load_dense_indexes(cfg, library.keyed(), FakeEmbedder().identity)
    return Retriever(
        library,
        cfg=cfg,
        analyzer=analyzer,
        lexical=lexical,
        dense=dense,
        encoder=FakeEmbedder(prompt="query: "),
    )


# --- the Qdrant backend ----------------------------------------------------------------------------------

DENSE_TOL = 1e-6  # float32 rounding of the cosines


def _edge_available() -> bool:
    try:
        import qdrant_edge  # noqa: F401
    except ImportError:
        return False
    return True


LOCATIONS = [
    pytest.param("memory", id="memory"),
    pytest.param(
        "edge",
        id="edge",
        marks=pytest.mark.skipif(not _edge_available(), reason="qdrant-edge-py is not installed"),
    ),
]


def _location(kind: str, tmp: Path) -> str:
    if kind == "memory":
        return ":memory:"
    if kind == "edge":
        return f"edge:{tmp / 'edge'}"
    if kind == "server":
        return os.environ["QDRANT_URL"]
    return str(tmp / "local")


def _payloads(index: Any) -> list[dict[str, Any]]:
    """Rows split over three documents and both languages, so that filters select something uneven."""
    return [
        {"document": f"DOC/{i % 3}", "lang": "zh" if i % 4 else "en", "paragraph": int(n)}
        for i, n in enumerate(index.doc_ids)
    ]


def assert_same_top(
    ref: Sequence[tuple[int, float]],
    got: Sequence[tuple[int, float]],
    full: np.ndarray,
    tol: float,
    label: str,
) -> None:
    """Same ids and scores rank by rank, except that tied ids (scores within ``tol``) may swap (the order of
    ties is checked by ``test_tied_scores_come_out_in_the_references_row_order``). ``full`` is the reference
    score of every row."""
    assert len(got) == len(ref), f"{label}: {len(got)} results, expected {len(ref)}"
    for (r1, s1), (r2, s2) in zip(ref, got, strict=True):
        assert abs(s1 - s2) <= tol, f"{label}: score {s2} for row {r2}, expected {s1} (row {r1})"
        assert abs(full[r2] - s2) <= tol, f"{label}: row {r2} scored {s2}, its reference score is {full[r2]}"


def _dense_parity(
    backend: Any, dense: Any, vectors: np.ndarray, labels: list[str], weights: Sequence[float]
) -> None:
    from pipeline.ranking import top_k

    for label, q in zip(labels, vectors, strict=True):
        for w in weights:
            sc = dense.scores(q, w)
            ref = [(int(r), float(sc["combined"][r])) for r in top_k(sc["combined"], 10)]
            got = backend.dense(q, 10, w)
            assert_same_top(
                ref,
                [(d.row, d.combined) for d in got],
                sc["combined"],
                DENSE_TOL,
                f"{backend.kind} dense {label} w={w}",
            )
            for d in got:
                assert abs(d.paragraph - sc["paragraph"][d.row]) <= DENSE_TOL
                assert abs(d.sentence - sc["sentence"][d.row]) <= DENSE_TOL
                assert d.best_sentence == int(sc["best_sentence"][d.row]), (label, d)


def interrupted_upload(
    b: Any, monkeypatch: pytest.MonkeyPatch, payloads: Any, index: Any, dense: Any
) -> None:
    """An upload in batches of 16 interrupted (KeyboardInterrupt) after its first two batches were written."""
    real_upsert, calls = b.engine.upsert, []

    def flaky(points: list[Any]) -> None:
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated interruption")
        calls.append(len(points))
        real_upsert(points)

    monkeypatch.setattr(b.engine, "upsert", flaky)
    with pytest.raises(KeyboardInterrupt):
        b.upload(payloads, index, dense, batch_size=16, progress=False)
    monkeypatch.setattr(b.engine, "upsert", real_upsert)


def run_pipeline(home: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``python -m pipeline ARGS`` with ``PIPELINE_HOME=home``, its output captured (never raises on a
    non-zero exit: the caller checks the code)."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PIPELINE_HOME": str(home)},
        check=False,
    )


#: The files of a saved lexical (BM25) index and of a dense index.
LEXICAL_FILES = (
    "doc_ids.npy",
    "doc_len.npy",
    "params.json",
    "tf_data.npy",
    "tf_indices.npy",
    "tf_indptr.npy",
    "vocab.json",
)
DENSE_FILES = ("paragraphs.npy", "sentences.npy", "sentence_map.json")


@contextmanager
def lock_held_elsewhere(index_dir: Path, seconds: float = 60) -> Iterator[subprocess.Popen[str]]:
    """Another process holding ``index_dir``'s build lock (for at most ``seconds``) while the block runs."""
    hold = (
        "import sys, time\nfrom pipeline.store import build_lock\n"
        f"with build_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep({seconds})\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", hold, str(index_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait()


# --- the browser ----------------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT = 60  # seconds: the first question loads the query encoder


@contextmanager
def chromium(profile: Path) -> Iterator[Any]:
    """Debian's chromium driven headless through chromium-driver (fails naming what to install when they are
    missing), with a fresh profile in ``profile``; quit and the profile removed afterwards."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(
            f"the browser tests need Debian's chromium and its driver ({', '.join(missing)} missing): "
            "apt-get install chromium chromium-driver"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1024,1200",
        "--lang=en-US",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def by_css(driver: Any, sel: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, sel)


def all_css(driver: Any, sel: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, sel)


def wait_ready(driver: Any, timeout: float = WAIT) -> None:
    """Wait until the page has finished its view (``body[data-ready]`` is set after the glosses)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script("return document.body.dataset.ready || ''")
    )


def open_page(driver: Any, url: str) -> None:
    driver.get(url)
    wait_ready(driver)


class SlowRetriever:
    """A retriever whose batch answers are counted and, when ``delay`` is set, slowed down: a batch that
    takes a while (the server's and the page's cancellation tests)."""

    def __init__(self, retriever: Any, delay: float = 0.0) -> None:
        self._retriever, self.delay, self.calls = retriever, delay, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._retriever, name)

    def search_many(self, queries: list[str], *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        time.sleep(self.delay)
        return self._retriever.search_many(queries, *args, **kwargs)


def axe_source() -> str:
    """axe-core's script: the copy the ``selenium-axe-python`` test extra ships (axe-core 4.9), or the file
    named by ``PIPELINE_AXE_JS`` (e.g. npm's ``node_modules/axe-core/axe.min.js``, a newer axe)."""
    path = os.environ.get("PIPELINE_AXE_JS")
    if path:
        return Path(path).read_text(encoding="utf-8")
    try:
        from importlib.resources import files

        return (files("selenium_axe_python") / "axe-core" / "axe.min.js").read_text(encoding="utf-8")
    except ModuleNotFoundError:
        pytest.fail(
            "the accessibility tests need axe-core: pip install selenium-axe-python==2.2.0 (test extra)"
        )


def axe_violations(driver: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is (every rule axe runs by default, any impact): id, impact,
    help and the nodes (selector, summary)."""
    driver.execute_script(axe_source())
    found = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => [n.target.join(' '), n.failureSummary])}))))"
        ".catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));"
    )
    return list(found)


#: Where the README's screenshots go: docs/ only when asked (PIPELINE_SCREENSHOTS=docs); tests never write
#: into the working tree otherwise.
SCREENSHOTS = (
    ROOT / "docs"
    if os.environ.get("PIPELINE_SCREENSHOTS") == "docs"
    else Path(tempfile.mkdtemp(prefix="screens-"))
)


def hover(driver: Any, element: Any) -> None:
    """Move the mouse onto the first line of ``element`` (an inline span's box may be wider than its text)."""
    x, y = driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center'});"
        "const r = arguments[0].getClientRects()[0];"
        "return [r.left + Math.min(8, r.width / 2), r.top + r.height / 2];",
        element,
    )
    driver.execute_cdp_cmd("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})


def search_url(q: str, mode: str = "lexical", **extra: str) -> str:
    """The page's address of a search (``/?q=…&mode=…``)."""
    return "/?" + urllib.parse.urlencode({"q": q, "mode": mode, **extra})
