#!/bin/bash
# Offline install of the real-engine wheel set on the lane's GPU machine (docs/real-engine.md).
#
#   scripts/real_engine/install.sh WHEELSET_JSON PART_DIR...     then: . "$SITE/../sglang_env.sh"
#
# Checks every wheel against wheelset.json (size and sha256) before installing anything, then
# installs them with --no-index --no-deps into $SITE (default /tmp/real-engine/site), never into
# the machine's Python: PYTHONPATH=$SITE puts the carried transformers/tokenizers ahead of the
# machine's own. Adapted from ../shared/real-engine/offline_install.sh.
set -euo pipefail
PY=${PY:-python3}
ROOT=${ROOT:-/tmp/real-engine}
SITE=${SITE:-$ROOT/site}
MANIFEST=$1; shift
mkdir -p "$ROOT"

echo "== check the wheels against $MANIFEST"
WHEELS=$("$PY" - "$MANIFEST" "$@" <<'PYEOF'
import hashlib, json, os, sys
manifest, dirs = json.load(open(sys.argv[1])), sys.argv[2:]
where = {n: os.path.join(d, n) for d in dirs for n in os.listdir(d) if n.endswith(".whl")}
bad = []
for f in manifest["files"]:
    path = where.get(f["file"])
    if path is None:
        bad.append(f"missing {f['file']} (part {f['part']})")
        continue
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    if os.path.getsize(path) != f["bytes"] or digest != f["sha256"]:
        bad.append(f"{f['file']}: size or sha256 differs from the manifest")
extra = sorted(set(where) - {f["file"] for f in manifest["files"]})
bad += [f"{n}: not in the manifest" for n in extra]
if bad:
    sys.exit("wheel set incomplete or altered:\n  " + "\n  ".join(bad))
print(" ".join(where[f["file"]] for f in manifest["files"]))
PYEOF
)
echo "   $(echo "$WHEELS" | wc -w) wheels, checksums match"

echo "== preflight"
"$PY" - <<'PYEOF'
import shutil, sys, sysconfig, os
import torch, triton
print("python", sys.version.split()[0], "torch", torch.__version__, "triton", triton.__version__)
if torch.cuda.is_available():
    print("gpu", torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0))
for t in ("gcc", "g++", "nvcc", "nvidia-smi"):
    print(f"{t:10s}", shutil.which(t))
print("Python.h", os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))
PYEOF

echo "== install -> $SITE"
start=$(date +%s)
# shellcheck disable=SC2086
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" $WHEELS
echo "   installed in $(( $(date +%s) - start )) s"

cat > "$ROOT/sglang_env.sh" <<ENVEOF
export PYTHONPATH=$SITE\${PYTHONPATH:+:\$PYTHONPATH}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
ENVEOF
. "$ROOT/sglang_env.sh"
"$PY" -c "import sgl_kernel, flashinfer, xgrammar, transformers, modal, sglang.launch_server; print('sglang', __import__('sglang').__version__, 'transformers', transformers.__version__, 'modal', modal.__version__)"
