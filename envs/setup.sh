#!/usr/bin/env bash
# Create (or verify) the project environment: a Python 3.11 venv with the pinned stack.
#
#   bash envs/setup.sh            # create .venv if missing / out of date, else return at once
#   NDR_VENV=/path/venv bash envs/setup.sh
#
# Order matters: torch first (mmcv's build imports it), then onedl-mmcv built from source with
# its compiled ops (MMCV_WITH_OPS=1, --no-build-isolation, setuptools==80.9.0: its pyproject needs
# setuptools>=80 for the PEP 639 licence string, so "<70" cannot build it) into a wheel cache that
# is reused on every later run (the build takes ~15 min on 2 cores), then everything else from
# envs/requirements.lock and envs/requirements-test.lock.
#
# Installer: uv (the PyPI package, pinned below, put into the venv by pip) installs the build tools,
# the cached mmcv wheel and the lock: it resolves and links from its own cache (~/.cache/uv) in
# seconds where pip takes about a minute. Where uv cannot be installed or fails, pip does the same
# steps. torch itself is always installed by pip, so pip's configuration (find-links, indexes,
# constraints), which uv does not read, keeps choosing the torch build as before.
#
# Environment variables:
#   NDR_VENV          where the venv lives (default: <repo>/.venv)
#   NDR_WHEEL_CACHE   where the built mmcv wheel is kept (default: <pip cache dir>/noisy-det-repro-wheels)
#   NDR_PYTHON        interpreter used to create the venv (default: python3.11, then python3)
#   NDR_TORCH_INDEX   extra index for torch (e.g. https://download.pytorch.org/whl/cu128 on GPU hosts)
#   FORCE_CUDA        1 to build mmcv's CUDA ops (needs nvcc and a CUDA torch); default: auto
#   NDR_INSTALLER     uv (default) or pip: who installs the build tools, the mmcv wheel and the lock
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENVS="$REPO/envs"
VENV="${NDR_VENV:-$REPO/.venv}"
TORCH_VERSION=2.13.0
TORCHVISION_VERSION=0.28.0
MMCV_VERSION=2.3.6
UV_VERSION=0.13.9

say() { printf '[setup] %s\n' "$*" >&2; }
die() {
    printf '[setup] ERROR: %s\n' "$*" >&2
    exit 1
}
step_start=0
step() {
    step_start=$(date +%s)
    say "$*"
}
step_done() { say "  done in $(($(date +%s) - step_start)) s"; }

# Fingerprint of everything that decides the environment's content; stored in the venv once
# the install succeeded, so a second call is a no-op (cached: well under a minute).
fingerprint() {
    cat "$ENVS/setup.sh" "$ENVS/requirements.lock" "$ENVS/requirements-test.lock" | sha256sum | cut -c1-16
}
STAMP="$VENV/.ndr-env-$(fingerprint)"
if [[ -f "$STAMP" ]]; then
    exit 0
fi

total_start=$(date +%s)

# ---- checks that fail with a sentence instead of a traceback wall --------------------------
PY="${NDR_PYTHON:-}"
if [[ -z "$PY" ]]; then
    for cand in python3.11 python3; do
        if command -v "$cand" >/dev/null 2>&1; then
            PY="$cand"
            break
        fi
    done
fi
[[ -n "$PY" ]] || die "no python3.11 found on PATH; install Python 3.11 or set NDR_PYTHON=/path/to/python3.11"
pyver="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" ||
    die "'$PY' does not run; set NDR_PYTHON to a working Python 3.11"
[[ "$pyver" == "3.11" ]] ||
    die "'$PY' is Python $pyver; the pinned stack (torch $TORCH_VERSION, onedl-mmcv $MMCV_VERSION) needs Python 3.11. Set NDR_PYTHON=/path/to/python3.11"
"$PY" -c 'import venv' 2>/dev/null || die "'$PY' has no venv module (Debian: apt-get install python3.11-venv)"

CXX_BIN="${CXX:-g++}"
command -v "$CXX_BIN" >/dev/null 2>&1 ||
    die "no C++ compiler ('$CXX_BIN') on PATH; onedl-mmcv builds its ops from source (Debian: apt-get install g++)"
gxx_major="$("$CXX_BIN" -dumpversion 2>/dev/null | cut -d. -f1)"
if [[ "$CXX_BIN" == *g++* ]] && [[ -n "$gxx_major" ]] && ((gxx_major < 9)); then
    die "g++ $gxx_major is too old to build mmcv's ops against torch $TORCH_VERSION (C++17 needed: g++ >= 9)"
fi
"$PY" - <<'EOF' >/dev/null 2>&1 || die "Python headers are missing for $PY (Debian: apt-get install python3.11-dev)"
import os, sysconfig
inc = sysconfig.get_paths()["include"]
assert os.path.exists(os.path.join(inc, "Python.h"))
EOF

# ---- venv ----------------------------------------------------------------------------------
if [[ ! -x "$VENV/bin/python" ]]; then
    step "creating venv $VENV with $PY ($pyver)"
    "$PY" -m venv "$VENV"
    step_done
else
    say "venv $VENV exists; bringing it in line with the lock"
fi
VPY="$VENV/bin/python"
PIP=("$VPY" -m pip --disable-pip-version-check)

# ---- installer: uv when it can be had, else pip ------------------------------------------------
INSTALLER=pip
UV="$VENV/bin/uv"
case "${NDR_INSTALLER:-uv}" in
uv)
    if [[ "$("$UV" --version 2>/dev/null)" == "uv $UV_VERSION"* ]] ||
        "${PIP[@]}" install -q "uv==$UV_VERSION" >/dev/null 2>&1; then
        INSTALLER=uv
    else
        say "uv $UV_VERSION could not be installed; installing with pip"
    fi
    ;;
pip) ;;
*) die "NDR_INSTALLER must be uv or pip, got '${NDR_INSTALLER}'" ;;
esac
# uv does not read pip's configuration; hand it pip's CA bundle where one is set
if [[ -n "${PIP_CERT:-}" && -z "${SSL_CERT_FILE:-}" ]]; then
    export SSL_CERT_FILE="$PIP_CERT"
fi

# install ARGS...: uv pip install into the venv (pip if uv fails), or pip install
install() {
    if [[ $INSTALLER == uv ]]; then
        "$UV" pip install -q --python "$VPY" "$@" && return 0
        say "uv pip install failed; retrying with pip"
    fi
    "${PIP[@]}" install -q "$@"
}

step "build tools (pip, wheel, setuptools==80.9.0, ninja) with $INSTALLER"
install "pip>=23.2" wheel "setuptools==80.9.0" ninja==1.13.2
step_done

# ---- torch first -----------------------------------------------------------------------------
# torchvision: PyPI's torchvision 0.28.0 wheel links libtorch_cuda/libc10_cuda, so beside the
# +cpu torch it fails at import ("operator torchvision::nms does not exist"), and mmengine's
# Runner imports it in collect_env() and crashes. Neither mmdet nor this project needs it on CPU,
# so it is installed only where torch is a CUDA build (GPU hosts), where the pair works.
torch_args=()
if [[ -n "${NDR_TORCH_INDEX:-}" ]]; then
    torch_args+=(--extra-index-url "$NDR_TORCH_INDEX")
fi
# pip picks the torch file (its find-links, indexes and constraints decide the build: +cpu,
# CUDA, ...) without installing it (--dry-run --report); uv installs exactly that file.
install_torch_with_uv() {
    local report url
    report="$(mktemp)"
    if ! "${PIP[@]}" install -q --dry-run --no-deps --ignore-installed --report "$report" \
        ${torch_args[@]+"${torch_args[@]}"} "torch==$TORCH_VERSION" >/dev/null 2>&1; then
        rm -f "$report"
        return 1
    fi
    url="$("$VPY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["install"][0]["download_info"]["url"])' "$report" 2>/dev/null)" || url=""
    rm -f "$report"
    [[ -n "$url" ]] || return 1
    "$UV" pip install -q --python "$VPY" -c "$ENVS/requirements.lock" "torch @ $url"
}
# "VERSION CUDA" of the installed torch ("- -" if none; CUDA "-" on a CPU build), read from
# torch/version.py: importing torch costs seconds, and this is asked on every run
torch_info() {
    "$VPY" -c '
import importlib.util, os, runpy
spec = importlib.util.find_spec("torch")
v = runpy.run_path(os.path.join(spec.submodule_search_locations[0], "version.py"))
print(v["__version__"], v["cuda"] or "-")' 2>/dev/null || echo "- -"
}
read -r torch_installed TORCH_CUDA <<<"$(torch_info)"
if [[ "${torch_installed%%+*}" == "$TORCH_VERSION" ]]; then
    say "torch $TORCH_VERSION already installed"
else
    step "torch==$TORCH_VERSION (installed before everything that builds against it; chosen by pip, installed with $INSTALLER)"
    if [[ $INSTALLER != uv ]] || ! install_torch_with_uv; then
        "${PIP[@]}" install -q ${torch_args[@]+"${torch_args[@]}"} "torch==$TORCH_VERSION"
    fi
    step_done
    read -r torch_installed TORCH_CUDA <<<"$(torch_info)"
fi
if [[ "$TORCH_CUDA" == "-" ]]; then
    TORCH_CUDA=""
fi
if [[ -n "$TORCH_CUDA" ]]; then
    if ! "$VPY" -c "import torchvision" 2>/dev/null; then
        step "torchvision==$TORCHVISION_VERSION (CUDA torch $TORCH_CUDA)"
        "${PIP[@]}" install -q ${torch_args[@]+"${torch_args[@]}"} "torchvision==$TORCHVISION_VERSION"
        step_done
    fi
elif "$VPY" -c "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('torchvision') else 1)" 2>/dev/null &&
    ! "$VPY" -c "import torchvision" 2>/dev/null; then
    say "removing a torchvision that cannot load beside the CPU torch (it breaks mmengine's Runner)"
    "${PIP[@]}" uninstall -q -y torchvision
fi

# ---- onedl-mmcv: built once, then always taken from the wheel cache ------------------------
PIP_CACHE="$("${PIP[@]}" cache dir 2>/dev/null || echo "$HOME/.cache/pip")"
WHEELS="${NDR_WHEEL_CACHE:-$PIP_CACHE/noisy-det-repro-wheels}"
mkdir -p "$WHEELS"
cuda_tag="cpu"
if [[ -n "$TORCH_CUDA" ]] && command -v nvcc >/dev/null 2>&1; then
    cuda_tag="cu${TORCH_CUDA//./}"
fi
export FORCE_CUDA="${FORCE_CUDA:-$([[ $cuda_tag == cpu ]] && echo 0 || echo 1)}"
MMCV_DIR="$WHEELS/mmcv-$MMCV_VERSION-torch$TORCH_VERSION-$cuda_tag"
mkdir -p "$MMCV_DIR"
if "$VPY" -c "import mmcv, mmcv.ops, sys; sys.exit(0 if mmcv.__version__=='$MMCV_VERSION' else 1)" 2>/dev/null; then
    say "onedl-mmcv $MMCV_VERSION with ops already installed"
else
    wheel="$(ls "$MMCV_DIR"/onedl_mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n1 || true)"
    if [[ -z "$wheel" ]]; then
        step "building onedl-mmcv $MMCV_VERSION with compiled ops ($cuda_tag; ~15 min on 2 cores, done once, cached in $MMCV_DIR)"
        tmpw="$(mktemp -d "$MMCV_DIR/.build.XXXXXX")"
        MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" "${PIP[@]}" wheel --no-deps --no-build-isolation \
            -w "$tmpw" "onedl-mmcv==$MMCV_VERSION" || {
            rm -rf "$tmpw"
            die "building onedl-mmcv failed (see the compiler output above); check g++ and the Python headers"
        }
        mv "$tmpw"/onedl_mmcv-*.whl "$MMCV_DIR"/ # atomic within one filesystem
        rm -rf "$tmpw"
        wheel="$(ls "$MMCV_DIR"/onedl_mmcv-"$MMCV_VERSION"-*.whl | head -n1)"
        step_done
    else
        say "reusing cached wheel $wheel"
    fi
    step "installing $(basename "$wheel")"
    install --no-deps "$wheel"
    step_done
fi

# ---- the rest of the lock --------------------------------------------------------------------
step "pinned packages from envs/requirements.lock and envs/requirements-test.lock with $INSTALLER"
install -r "$ENVS/requirements.lock" -r "$ENVS/requirements-test.lock" "torch==$TORCH_VERSION" "setuptools==80.9.0"
step_done

step "checking: import mmdet, mmcv.ops"
"$VPY" -c "import mmdet, mmcv.ops, mmengine; print('  mmdet', mmdet.__version__, '| mmcv', __import__('mmcv').__version__, '| mmengine', mmengine.__version__)" >&2 ||
    die "the environment installed but 'import mmdet, mmcv.ops' fails; remove $VENV and rerun"
step_done

rm -f "$VENV"/.ndr-env-*
touch "$STAMP"
say "environment ready in $(($(date +%s) - total_start)) s: $VENV"
