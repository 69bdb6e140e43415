"""The code stays at the configured width with sorted imports and no unused names (ruff), and the public API
and the layers it stands on type-check strictly (mypy); both read their settings from pyproject.toml.
Neither writes a cache into the working tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )


def test_ruff_is_clean() -> None:
    done = _run("ruff", "check", "--no-cache", "pipeline", "tests", "scripts")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_ruff_format_leaves_the_code_as_it_is() -> None:
    done = _run("ruff", "format", "--check", "--no-cache", "pipeline", "tests", "scripts")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_ruff_check_sees_a_long_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("x = '" + "a" * 120 + "'\n", encoding="utf-8")
    done = _run("ruff", "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), str(bad))
    assert done.returncode == 1 and "E501" in done.stdout


@pytest.mark.slow
def test_mypy_strict_on_the_public_api(tmp_path: Path) -> None:
    done = _run("mypy", "--cache-dir", str(tmp_path / "mypy"))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
