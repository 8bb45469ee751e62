#!/usr/bin/env bash
# One sitting of the report-scale run (profiles/report.yaml), kept in git stage by stage: the run takes more
# hours than one sitting on 2 cores (docs/reproduction.md), and a fresh machine has no DVC cache, MLflow store or
# Optuna journal from the last one. Run it in a fresh clone, naming the repository that keeps the run and this
# sitting's stages in pipeline order:
#   git clone /path/to/repo ../sitting && cd ../sitting && make install
#   benchmarks/report_sitting.sh /path/to/repo study1 activation study2 > sitting.log 2>&1
# The stages kept so far (REPO/docs/report_scale) are restored into this clone; each named stage runs with
# `dvc repro -s`, and the moment it ends its files and wall time go into REPO/docs/report_scale and
# REPO/docs/fidelity.md is re-rendered: commit them in REPO after each stage. A study cut short by the sitting's
# end starts again in the next one. final needs base_mlp's model and compare the learning curve's probabilities,
# which stay out of git: name each pair in one sitting. cnn and sumnet are unchanged by the profile.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 REPO STAGE... (in a fresh clone with .venv)" >&2; exit 2; }
repo=$(cd "$1" && pwd)
shift
kept="$repo/docs/report_scale"
export PATH="$PWD/.venv/bin:$PATH" MLFLOW_DISABLE_TELEMETRY=true DVC_NO_ANALYTICS=1 TF_CPP_MIN_LOG_LEVEL=3
mnistsum params "${REPORT_PROFILE:-profiles/report.yaml}"  # another profile only in the tests
if [ -f "$kept/dvc.lock" ]; then mnistsum fidelity --restore "$kept"; fi
dvc repro -s check_params
dvc repro -s prepare
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for stage in "$@"; do
    start=$(date +%s)
    echo "$(date -u +%H:%M:%S) sitting: $stage starts"
    dvc repro -s "$stage" 2>&1 | tee "$log"
    if grep -q "Stage '$stage' didn't change, skipping" "$log"; then  # restored or already made: no new sitting
        echo "$(date -u +%H:%M:%S) sitting: $stage had run already; nothing new to keep"
        continue
    fi
    mnistsum fidelity --keep "$kept" --stages "$stage" --seconds $(($(date +%s) - start))
    (cd "$repo" && mnistsum fidelity --run docs/report_scale)
    echo "$(date -u +%H:%M:%S) sitting: $stage kept; commit docs/report_scale and docs/fidelity.* in $repo"
done
