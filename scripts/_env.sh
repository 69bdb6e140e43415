# Shared by scripts/demo, scripts/test and scripts/bench: create .venv when missing and install the project.
# Idempotent: a second run only checks that the installed project matches pyproject.toml.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PY --version)" >&2
  "$PY" -m venv .venv
fi
VPY="$ROOT/.venv/bin/python"
EXTRAS="${1:-}"
STAMP=".venv/.installed${EXTRAS:+-$EXTRAS}"
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
  echo "[setup] installing the project${EXTRAS:+ with [$EXTRAS]} into .venv (first run takes a few minutes)" >&2
  "$VPY" -m pip install --quiet --upgrade pip >&2
  # torch first, pinned: pip takes the CPU build on this machine's disk instead of a multi-GB CUDA build
  "$VPY" -m pip install --quiet "torch==2.13.0" >&2
  "$VPY" -m pip install --quiet -e ".${EXTRAS:+[$EXTRAS]}" >&2
  touch "$STAMP"
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
