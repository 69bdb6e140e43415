"""README and indexes/README.md say what is true: files they name exist, examples name real files, and the
home (PIPELINE_HOME) is documented where a user looks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_corpus_and_docs_path_in_readme_exists():
    paths = set(
        re.findall(
            r"(?<![\w/])((?:corpus|docs|scripts|tests)/[\w./-]+\.(?:jsonl|txt|tsv|json|md|png|py))", README
        )
    )
    assert paths, "README names no files?"
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, missing


def test_batch_examples_name_files_that_exist():
    for line in README.splitlines():
        m = re.match(r"pipeline batch (\S+)", line.strip())
        if m and "--resume" not in line:
            assert (ROOT / m.group(1)).is_file(), line


def test_home_is_documented_in_readme_and_help():
    assert "PIPELINE_HOME" in README
    out = subprocess.run([sys.executable, "-m", "pipeline", "--help"], capture_output=True, text=True).stdout
    assert "PIPELINE_HOME" in out and "corpus/" in out and "indexes/" in out
    out = subprocess.run(
        [sys.executable, "-m", "pipeline", "build", "--help"], capture_output=True, text=True
    ).stdout
    assert "PIPELINE_HOME" in " ".join(out.split())


def test_indexes_readme_names_what_build_makes(cfg, lexical_index, analyzer):
    analyzer.translator  # noqa: B018 - builds the dictionary cache in the session home
    table = (ROOT / "indexes" / "README.md").read_text(encoding="utf-8")
    named = re.findall(r"^\| `([\w./-]+)`", table, re.MULTILINE)
    assert {"docs/KEY/lexical/", "docs/KEY/dense/", "translate/", "jieba/jieba.cache"} <= set(named)
    from pipeline.layout import corpus_key

    key = corpus_key(lexical_index_corpus(cfg))
    for name in ("docs/KEY/lexical/", "translate/", "jieba/jieba.cache"):
        path = cfg.index_dir / name.replace("KEY", key)
        assert path.exists(), name
        if name.endswith("/"):
            assert (path / "manifest.json").is_file(), name


def lexical_index_corpus(cfg):
    from pipeline.library import load_corpus

    return load_corpus(cfg)
