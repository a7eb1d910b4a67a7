#!/bin/bash
# The real-engine lane on the GPU machine (docs/real-engine.md): `make real-engine WHEELS=DIR`.
#
#   scripts/real_engine/lane.sh WHEELS_DIR [REPORT_DIR]
#
# WHEELS_DIR holds wheelset.json and the part folders (scripts/real_engine/wheelset.py builds
# them; a part may also sit elsewhere: PARTS="dir1 dir2" overrides). Installs them offline,
# renders the lane's profile with the normal pipeline, and runs scripts/real_engine/run.py,
# whose exit status this returns.
set -uo pipefail
cd "$(dirname "$0")/../.."
WHEELS=${1:?usage: lane.sh WHEELS_DIR [REPORT_DIR]}
REPORT=${2:-build/real-engine/report}
PROFILE=${PROFILE:-tiny-h100}
PARTS=${PARTS:-$(ls -d "$WHEELS"/part*)}
# shellcheck disable=SC2086
scripts/real_engine/install.sh "$WHEELS/wheelset.json" $PARTS || exit 2
. "${ROOT:-/tmp/real-engine}/sglang_env.sh"
export PYTHONPATH="$PWD:$PYTHONPATH"
python3 -m generator render "$PROFILE" || exit 2  # the normal pipeline (ruff formats it)
PYTHONUNBUFFERED=1 python3 scripts/real_engine/run.py \
  --app "build/$PROFILE/modal_app.py" --profile "$PROFILE" --out "$REPORT"
