#!/usr/bin/env bash
# Install learn2learn 0.2.0 -- an OPTIONAL extra of sggft-meta, never a dependency -- on
# Python 3.11 with only torch installed. See docs/learn2learn.md for the why.
#
#   bash tools/install_learn2learn.sh
#
# What it does:
#   1. exits 0 at once if `import learn2learn` and `from learn2learn.algorithms import MAML,
#      MetaSGD` already work (set L2L_FORCE=1 to rebuild anyway);
#   2. makes a throw-away build venv with Cython 3, setuptools and wheel (nothing of that goes
#      into your environment);
#   3. downloads the learn2learn 0.2.0 sdist (no deps, sha256 checked), unpacks it, deletes
#      the stale Cython-0.29 C files and bundled .eggs, and patches it so torchvision, gym and
#      requests are optional (the `gym`, `text` and `vision` sub-packages are skipped when
#      their imports fail);
#   4. regenerates the C sources with Cython 3, builds a wheel and installs it with --no-deps;
#   5. checks that `pip freeze` changed by the learn2learn line only (no torch, torchvision or
#      gym installed), then runs a MAML clone/adapt smoke test.
#
# Environment: PYTHON (interpreter to install into; default: python), L2L_SDIST (path to an
# already downloaded learn2learn-0.2.0.tar.gz, for offline use), L2L_FORCE=1 (rebuild even if
# importable), L2L_KEEP_BUILD=1 (keep the temporary build folder).
set -euo pipefail

L2L_VERSION="0.2.0"
L2L_SHA256="69f1d7cb0d0a6be7a2c6ad8e83e2ebbe70fb05e51d61e45e63078b40c75ea419"
PY="${PYTHON:-python}"

log() { printf '[install_learn2learn] %s\n' "$*"; }
die() { printf '[install_learn2learn] ERROR: %s\n' "$*" >&2; exit 1; }
trap 'rc=$?; printf "[install_learn2learn] ERROR: command failed (exit %s) at line %s: %s\n" "$rc" "$LINENO" "$BASH_COMMAND" >&2' ERR

START=$SECONDS

# --- 0. preconditions -------------------------------------------------------------------
command -v "$PY" >/dev/null 2>&1 || die "python interpreter '$PY' not found (set PYTHON=...)"
log "target interpreter: $("$PY" -c 'import sys; print(sys.executable, sys.version.split()[0])')"

if [[ "${L2L_FORCE:-0}" != "1" ]] \
    && ver="$("$PY" -c 'import learn2learn; from learn2learn.algorithms import MAML, MetaSGD; print(learn2learn.__version__)' 2>/dev/null)"; then
    log "learn2learn $ver is already importable with MAML/MetaSGD; nothing to do (L2L_FORCE=1 rebuilds)."
    exit 0
fi

"$PY" -c 'import torch' >/dev/null 2>&1 \
    || die "torch is not importable by $PY; install the project first (pip install -e .) -- this script never installs torch"
command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 \
    || die "no C compiler (cc/gcc) found; on Debian/Ubuntu: apt-get install -y gcc"
"$PY" - <<'EOF' || die "Python.h not found for $PY; on Debian/Ubuntu: apt-get install -y python3-dev"
import os, sys, sysconfig
sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)
EOF

[[ -z "${L2L_SDIST:-}" || -f "${L2L_SDIST:-}" ]] || die "L2L_SDIST=$L2L_SDIST is not a file"

freeze() { "$PY" -m pip freeze --all 2>/dev/null | LC_ALL=C sort; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/l2l-build.XXXXXX")"
cleanup() {
    if [[ "${L2L_KEEP_BUILD:-0}" == "1" ]]; then log "build folder kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
log "build folder: $WORK"

freeze >"$WORK/freeze.before"

# --- 1. build environment (isolated; nothing is installed into the target env here) ---------
log "creating build venv with cython>=3, setuptools, wheel"
"$PY" -m venv "$WORK/buildenv" || die "'$PY -m venv' failed; on Debian/Ubuntu: apt-get install -y python3-venv"
BPY="$WORK/buildenv/bin/python"
"$BPY" -m pip install --quiet --disable-pip-version-check "cython>=3,<4" "setuptools>=69" wheel \
    || die "could not install cython/setuptools/wheel into the build venv (network to PyPI?)"
log "build tools: $("$BPY" -c 'import Cython, setuptools; print("Cython", Cython.__version__, "setuptools", setuptools.__version__)')"

# --- 2. the sdist --------------------------------------------------------------------------
mkdir -p "$WORK/dl"
if [[ -n "${L2L_SDIST:-}" ]]; then
    log "using local sdist $L2L_SDIST"
    cp "$L2L_SDIST" "$WORK/dl/learn2learn-$L2L_VERSION.tar.gz"
else
    # --no-build-isolation: the metadata step then uses the build venv's Cython 3 instead of
    # compiling Cython and setuptools from source (which --no-binary :all: would do: ~8 min).
    log "downloading learn2learn==$L2L_VERSION sdist (no deps)"
    "$BPY" -m pip download --quiet --disable-pip-version-check "learn2learn==$L2L_VERSION" \
        --no-deps --no-binary :all: --no-build-isolation -d "$WORK/dl" \
        || die "pip download learn2learn==$L2L_VERSION failed (network to PyPI?)"
fi
SDIST="$WORK/dl/learn2learn-$L2L_VERSION.tar.gz"
[[ -f "$SDIST" ]] || die "expected $SDIST after download; got: $(ls "$WORK/dl")"
GOT_SHA="$("$PY" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$SDIST")"
[[ "$GOT_SHA" == "$L2L_SHA256" ]] || die "sha256 mismatch for $SDIST: got $GOT_SHA, expected $L2L_SHA256"
log "sdist sha256 ok"

tar -xzf "$SDIST" -C "$WORK"
SRC="$WORK/learn2learn-$L2L_VERSION"
[[ -d "$SRC/learn2learn" ]] || die "unexpected sdist layout (no $SRC/learn2learn)"

# --- 3. patch ------------------------------------------------------------------------------
log "removing stale generated C (Cython 0.29), bundled .eggs and egg-info"
rm -rf "$SRC/.eggs" "$SRC/learn2learn.egg-info"
rm -f "$SRC"/learn2learn/data/{meta_dataset,task_dataset,transforms}.c

log "patching: optional gym/text/vision imports, optional requests, trimmed install_requires"
"$BPY" - "$SRC" <<'EOF'
import pathlib, sys

src = pathlib.Path(sys.argv[1])

def patch(rel, old, new):
    path = src / rel
    text = path.read_text(encoding="utf8")
    if text.count(old) != 1:
        sys.exit(f"patch failed: expected exactly one {old!r} in {rel}")
    path.write_text(text.replace(old, new), encoding="utf8")
    print(f"  patched {rel}: {old.strip().splitlines()[0]!r}")

# gym needs gym; vision needs torchvision; text needs requests. Skip each when unavailable.
for sub in ("gym", "text", "vision"):
    patch("learn2learn/__init__.py", f"from . import {sub}\n",
          f"try:\n    from . import {sub}\nexcept ImportError:  # optional: needs gym / torchvision / requests\n    pass\n")

# learn2learn.data is always imported; requests is only used by its download helpers.
patch("learn2learn/data/utils.py", "import requests\n",
      "try:\n    import requests\nexcept ImportError:  # only needed by the download helpers\n    requests = None\n")

# Metadata: declare only what the patched core needs; no setup_requires (Cython comes from the
# build env); drop the unused distutils import (gone in Python 3.12).
patch("setup.py", "from distutils.core import setup\n", "")
patch("setup.py", "    setup_requires=['cython>=0.28.5', ],\n", "")
patch("setup.py",
      "        'gym>=0.14.0',\n        'torch>=1.1.0',\n        'torchvision>=0.3.0',\n"
      "        'scipy',\n        'requests',\n        'gsutil',\n        'tqdm',\n        'qpth>=0.0.15',\n",
      "        'torch>=1.1.0',\n        'tqdm',\n")
EOF

# --- 4. regenerate C with Cython 3, build, install ---------------------------------------
log "regenerating C sources with Cython 3"
(cd "$SRC" && "$WORK/buildenv/bin/cythonize" -3 -X embedsignature=True \
    learn2learn/data/meta_dataset.pyx learn2learn/data/task_dataset.pyx learn2learn/data/transforms.pyx) \
    || die "cythonize failed"
for f in meta_dataset task_dataset transforms; do
    head -1 "$SRC/learn2learn/data/$f.c" | grep -q 'Generated by Cython 3' || die "$f.c was not generated by Cython 3"
done

log "building wheel (compiles 3 C extensions; ~40 s on 2 cores)"
"$BPY" -m pip wheel --quiet --disable-pip-version-check --no-deps --no-build-isolation \
    -w "$WORK/wheel" "$SRC" || die "building the learn2learn wheel failed"
WHEEL="$(ls "$WORK"/wheel/learn2learn-*.whl)"
log "built $(basename "$WHEEL")"

log "installing with --no-deps into $PY"
"$PY" -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall "$WHEEL" \
    || die "pip install --no-deps $WHEEL failed"

# --- 5. verify -----------------------------------------------------------------------------
freeze >"$WORK/freeze.after"
DIFF="$(diff "$WORK/freeze.before" "$WORK/freeze.after" | grep -E '^[<>]' || true)"
log "pip freeze changes (- before, + after):"
if [[ -n "$DIFF" ]]; then sed 's/^< /  - /; s/^> /  + /' <<<"$DIFF"; else log "  (none)"; fi
CHANGED="$(sed -E 's/^[<>] //' <<<"$DIFF" | grep -viE '^learn2learn([=@ ]|$)' | grep -v '^$' || true)"
[[ -z "$CHANGED" ]] || die "pip freeze changed beyond learn2learn (was torch/torchvision/gym pulled?):
$CHANGED"
for pkg in torch torchvision gym; do
    before="$(grep -iE "^$pkg([=@ ]|$)" "$WORK/freeze.before" || true)"
    after="$(grep -iE "^$pkg([=@ ]|$)" "$WORK/freeze.after" || true)"
    [[ "$before" == "$after" ]] || die "$pkg changed: '$before' -> '$after'"
done
log "torch/torchvision/gym untouched: $(grep -iE '^torch([=@ ]|$)' "$WORK/freeze.after" || echo 'torch (not in pip freeze)')"

log "smoke test: import, MAML clone/adapt, MetaSGD, TaskDataset (compiled extensions)"
(cd "$WORK" && "$PY" - <<'EOF') || die "smoke test failed: learn2learn installed but does not work"
import torch
import learn2learn as l2l
from learn2learn.algorithms import MAML, MetaSGD
from learn2learn.utils import clone_module, update_module

m = MAML(torch.nn.Linear(3, 2), lr=0.1)
c = m.clone()
c.adapt(c(torch.randn(4, 3)).pow(2).sum())
MetaSGD(torch.nn.Linear(3, 2), lr=0.1).clone()
clone_module(torch.nn.Linear(3, 2))
ds = l2l.data.MetaDataset(torch.utils.data.TensorDataset(torch.randn(20, 3), torch.arange(4).repeat_interleave(5)))
tasks = l2l.data.TaskDataset(ds, [l2l.data.transforms.NWays(ds, 2), l2l.data.transforms.KShots(ds, 2),
                                  l2l.data.transforms.LoadData(ds)], num_tasks=2)
x, y = tasks.sample()
assert x.shape == (4, 3), x.shape
print(f"  learn2learn {l2l.__version__} from {l2l.__file__}: ok")
EOF

log "done in $((SECONDS - START)) s"
