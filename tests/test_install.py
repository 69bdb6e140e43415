"""A non-editable install (a built wheel, run outside the checkout) finds its report through PIPELINE_HOME, or
says clearly how to point at one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # builds a wheel (~10 s)
def test_wheel_installed_outside_the_checkout(tmp_path: Path, home: Path) -> None:
    # build from a copy of the sources: setuptools writes build/ and *.egg-info beside what it builds, and no
    # test writes into the working tree
    src = tmp_path / "src"
    shutil.copytree(ROOT / "pipeline", src / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(src),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    target = tmp_path / "site"
    (wheel,) = wheels.glob("pipeline-*.whl")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    assert not (target / "corpus").exists()  # the report is not part of the package
    # the installed copy first on the path, the project's dependencies from this venv after it
    env = {k: v for k, v in os.environ.items() if k != "PIPELINE_HOME"}
    env["PYTHONPATH"] = str(target)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import pipeline, sys; print(pipeline.__file__); "
        "sys.exit(__import__('pipeline.cli').cli.main(sys.argv[1:]))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, "paragraphs", "23"],
        capture_output=True,
        text=True,
        env=env,
        cwd=elsewhere,
    )
    assert r.stdout.startswith(str(target)), r.stdout
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "PIPELINE_HOME" in r.stderr and "ctoc-cop-2012-7.zh.txt" in r.stderr
    env["PIPELINE_HOME"] = str(home)
    r = subprocess.run(
        [sys.executable, "-c", code, "paragraphs", "23"],
        capture_output=True,
        text=True,
        env=env,
        cwd=elsewhere,
    )
    assert r.returncode == 0 and r.stdout.splitlines()[1].startswith("CTOC/COP/2012/7，第23段"), r.stderr
    r = subprocess.run(
        [sys.executable, "-c", code, "cite", "S/2012/50", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=elsewhere,
    )
    assert r.returncode == 0 and '"paragraph": 17' in r.stdout
