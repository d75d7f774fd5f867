#!/usr/bin/env bash
# The GPU checks of issue 19 in one run, under 8 minutes on one H100/H200 (docs/development.md):
# the CUDA-marked tests, the matmul peak, ViViT-B's forward (bf16/fp16, batch 12/24: MFU and the
# SDPA kernel), end to end on 32 generated 720p clips (ViViT-B and the bundled model, --workers 8
# and 16), and bf16/fp16 agreement with fp32 on the device. One JSON and one BENCHMARKS.md section.
#
#   benchmarks/gpu.sh [--dry-run] [--build DIR] [--json FILE] [--write FILE]
#
# --dry-run (or VIDCLASS_GPU_SMOKE=1): the same steps and Python code on the CPU, tiny sizes (a
# smoke run for tests; its figures mean nothing); it writes to DIR/gpu/BENCHMARKS.md unless
# --write names a file. The Python: $VIDCLASS_PYTHON, else .venv/bin/python, else `make install`
# makes .venv. This checkout's vidclass is used (PYTHONPATH), whatever the Python has installed.
#
# Exit status: 0 every step ran; 1 a step failed, timed out or found no time left (the others
# still ran, the results say which); 2 usage, or the Python cannot run vidclass; 3 no CUDA device
# (refused before anything is measured, one line on stderr).
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=build
JSON=
WRITE=
case ${VIDCLASS_GPU_SMOKE:-0} in 0|"") SMOKE=0 ;; *) SMOKE=1 ;; esac
BUDGET=${VIDCLASS_GPU_BUDGET:-450}  # seconds for the steps before the report (install apart)

USAGE="usage: benchmarks/gpu.sh [--dry-run] [--build DIR] [--json FILE] [--write FILE]"
value() {  # value OPTION ARGS...: the option's value, or a usage error
  if [ $# -lt 2 ] || [ -z "$2" ]; then echo "gpu.sh: $1 needs a value; $USAGE" >&2; exit 2; fi
  echo "$2"
}
while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) SMOKE=1 ;;
    --build) BUILD=$(value "$@") || exit 2; shift ;;
    --json) JSON=$(value "$@") || exit 2; shift ;;
    --write) WRITE=$(value "$@") || exit 2; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu.sh: unknown argument $1; $USAGE" >&2; exit 2 ;;
  esac
  shift
done

# --- the Python --------------------------------------------------------------------------------
if [ -n "${VIDCLASS_PYTHON:-}" ]; then
  PY=$VIDCLASS_PYTHON
elif [ -x "$ROOT/.venv/bin/python" ]; then
  PY=$ROOT/.venv/bin/python
else
  if [ "$SMOKE" = 0 ] && ! command -v nvidia-smi >/dev/null && [ ! -e /proc/driver/nvidia/version ]; then
    echo "gpu.sh: no CUDA device: no NVIDIA driver on this machine (--dry-run runs the CPU smoke run)" >&2
    exit 3
  fi
  echo "== install: make install (no .venv, no \$VIDCLASS_PYTHON)"
  if ! (cd "$ROOT" && make install); then
    echo "gpu.sh: make install failed (set VIDCLASS_PYTHON to a Python that has vidclass's dependencies)" >&2
    exit 2
  fi
  PY=$ROOT/.venv/bin/python
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
if ! "$PY" -c "import torch, av, decord, vidclass.cli.main" 2>/dev/null; then
  echo "gpu.sh: $PY cannot import torch, av, decord and vidclass (install them, or set VIDCLASS_PYTHON)" >&2
  exit 2
fi
if [ "$SMOKE" = 0 ] && ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "gpu.sh: no CUDA device: torch.cuda.is_available() is False (--dry-run runs the CPU smoke run)" >&2
  exit 3
fi

# --- the steps ---------------------------------------------------------------------------------
B=$BUILD/gpu
mkdir -p "$B"
rm -f "$B"/*.json "$B/steps.tsv"
FLAGS=(--build "$B")
[ "$SMOKE" = 1 ] && FLAGS+=(--smoke)
[ "$SMOKE" = 1 ] && [ -z "$WRITE" ] && WRITE=$B/BENCHMARKS.md
[ -z "$WRITE" ] && WRITE=$ROOT/BENCHMARKS.md
[ -z "$JSON" ] && JSON=$B/gpu.json
CHECKS=$ROOT/benchmarks/gpu_checks.py
STARTED=$SECONDS
FAILED=0

# limit NAME SECONDS: the step's limit, cut to what is left of the budget; empty when < 10 s left
limit() {
  local left=$((BUDGET - (SECONDS - STARTED)))
  if [ "$left" -lt 10 ]; then echo ""; elif [ "$2" -lt "$left" ]; then echo "$2"; else echo "$left"; fi
}
# record NAME LIMIT TOOK RC: one line of steps.tsv, and what went wrong on stdout
record() {
  local status=ok reason=
  case $4 in
    0) ;;
    124|137) status=skipped; reason="timed out after $2 s" ;;
    none) status=skipped; reason="no time left of the $BUDGET s budget" ;;
    *) status=failed; reason="exit $4" ;;
  esac
  [ "$status" = ok ] || { FAILED=1; echo "-- $1: $status: $reason"; }
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "${2:-0}" "$3" "$status" "$reason" >>"$B/steps.tsv"
}
# step NAME SECONDS ARGS...: run gpu_checks.py ARGS under its own limit (the report: outside the budget)
step() {
  local name=$1 lim t0 rc
  if [ "$1" = report ]; then lim=$2; else lim=$(limit "$1" "$2"); fi
  shift 2
  if [ -z "$lim" ]; then record "$name" 0 0 none; return; fi
  echo "== $name (limit $lim s)"
  t0=$SECONDS
  timeout -k 5 "$lim" "$PY" "$CHECKS" "$@" "${FLAGS[@]}"
  rc=$?
  record "$name" "$lim" $((SECONDS - t0)) "$rc"
}

# The clips are made (CPU) while the tests run; both finish before anything is timed.
CLIPS_LIMIT=$(limit clips 120)
CLIPS_T0=$SECONDS
if [ -n "$CLIPS_LIMIT" ]; then
  echo "== clips (limit $CLIPS_LIMIT s, in the background: $B/clips.log)"
  timeout -k 5 "$CLIPS_LIMIT" "$PY" "$CHECKS" clips "${FLAGS[@]}" >"$B/clips.log" 2>&1 &
  CLIPS_PID=$!
fi
step tests 75 tests
if [ -n "$CLIPS_LIMIT" ]; then
  wait "$CLIPS_PID"
  record clips "$CLIPS_LIMIT" $((SECONDS - CLIPS_T0)) $?
else
  record clips 0 0 none
fi
step peak 30 peak
step forward 75 forward
step e2e-vivit 75 e2e --model vivit
step e2e-bundled 50 e2e --model bundled
step agreement 60 agreement
COMMAND=benchmarks/gpu.sh
[ "$SMOKE" = 1 ] && COMMAND+=" --dry-run"
step report 20 report --json "$JSON" --write "$WRITE" --command "$COMMAND"
echo "== done in $((SECONDS - STARTED)) s: $JSON, $WRITE"
exit "$FAILED"
