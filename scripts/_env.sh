# Shared by scripts/demo, scripts/test and scripts/bench: create .venv when missing and install the project.
# Idempotent: a second run only checks that the installed project matches pyproject.toml. pip's own output
# goes to .venv/setup.log (shown when a step fails), so a first run prints a few lines of progress only.
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
LOG="$ROOT/.venv/setup.log"
step() {  # step "what" command... : run quietly into the log; on failure show its tail and stop
  echo "[setup] $1" >&2
  shift
  if ! "$@" >>"$LOG" 2>&1; then
    echo "[setup] failed; the last lines of $LOG:" >&2
    tail -n 30 "$LOG" >&2
    exit 1
  fi
}
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
  : >"$LOG"
  t0=$SECONDS
  step "1/3 upgrading pip" "$VPY" -m pip install --quiet --disable-pip-version-check --upgrade pip
  # torch first, pinned: pip takes the CPU build on this machine's disk instead of a multi-GB CUDA build
  step "2/3 installing torch 2.13.0 (CPU build; the longest step)" "$VPY" -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
  step "3/3 installing the project${EXTRAS:+ with [$EXTRAS]} and its dependencies" \
    "$VPY" -m pip install --quiet --disable-pip-version-check -e ".${EXTRAS:+[$EXTRAS]}"
  echo "[setup] done in $((SECONDS - t0)) s (pip's log: .venv/setup.log)" >&2
  touch "$STAMP"
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
