#!/usr/bin/env bash
# The one install step: a virtual environment in .venv, a CPU build of PyTorch unless a torch is
# already there, every Python dependency, and the Cython extensions built in place (Cython and a C
# compiler are needed only once a paper folder has a .pyx file).
#
#   bash install.sh
#
# (The optional flite voice for the demo corpus is installed by `python -m filelists.demo_corpus`,
# which runs apt-get itself when it can.)
#
# Environment knobs:
#   TTS_VENV=path                  where the virtual environment lives (default: .venv)
#   TTS_SYSTEM_SITE_PACKAGES=1     let the venv see system packages (Docker images with CUDA torch)
#   TORCH_SPEC='torch==2.13.0'     what to install when no torch is importable
#   TORCH_INDEX_URL=url            index for that install (e.g. PyTorch's CPU or CUDA wheel index)
#   TTS_REQUIRE_CUDA_TORCH=1       refuse a CPU-only torch (docker/Dockerfile sets it in the CUDA image)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$repo_root"

venv="${TTS_VENV:-.venv}"
torch_spec="${TORCH_SPEC:-torch==2.13.0}"
for arg in "$@"; do
  case "$arg" in
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf '[install] %s\n' "$*"; }
die() { printf '[install] error: %s\n' "$*" >&2; exit 1; }

python_bin="${PYTHON:-python3}"
command -v "$python_bin" >/dev/null || die "no '$python_bin' on PATH: install Python 3.10 or newer"
"$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || die "$("$python_bin" --version 2>&1) is too old: Python 3.10 or newer is needed"

if [ ! -x "$venv/bin/python" ]; then
  say "creating virtual environment $venv"
  venv_args=()
  [ "${TTS_SYSTEM_SITE_PACKAGES:-0}" = 1 ] && venv_args+=(--system-site-packages)
  "$python_bin" -m venv "${venv_args[@]}" "$venv" \
    || die "could not create $venv (Debian/Ubuntu: apt-get install python3-venv)"
fi
py="$venv/bin/python"
pip=("$py" -m pip --disable-pip-version-check --quiet)

if ! "$py" -c 'import torch' 2>/dev/null; then
  # An unpinned `pip install torch` pulls a multi-GB CUDA build on Linux; a pinned CPU build is
  # what tests and the demo need. GPU users install their CUDA torch into the venv first.
  say "installing $torch_spec"
  index_args=()
  [ -n "${TORCH_INDEX_URL:-}" ] && index_args+=(--index-url "$TORCH_INDEX_URL")
  "${pip[@]}" install "${index_args[@]}" "$torch_spec"
fi

# In the CUDA image a CPU-only torch means every run silently trains on the CPU (a host .venv copied
# into the image did exactly that). Only the image's own variable turns this on: probing for nvcc or
# /usr/local/cuda would also refuse developer machines and CI containers that ship a CUDA toolkit
# beside a CPU torch.
require_cuda_torch() {
  local build
  build="$("$py" -c 'import torch; print(torch.__version__, torch.version.cuda or "none")')" \
    || die "$venv/bin/python cannot import torch"
  if [ "${build##* }" = none ]; then
    die "torch ${build% *} in $venv is a CPU-only build, but TTS_REQUIRE_CUDA_TORCH=1 (the CUDA image).
  A host virtual environment copied into the image? Keep it out (.dockerignore lists .venv) and rebuild.
  Otherwise install a CUDA build into $venv, e.g.
    $venv/bin/pip install --force-reinstall '$torch_spec' --index-url https://download.pytorch.org/whl/cu126
  or build FROM an image whose Python has a CUDA torch and let the venv see it (TTS_SYSTEM_SITE_PACKAGES=1).
  To build a CPU-only image on purpose, set TTS_REQUIRE_CUDA_TORCH=0."
  fi
  say "CUDA image: torch ${build% *} is built for CUDA ${build##* }"
}
case "${TTS_REQUIRE_CUDA_TORCH:-0}" in
  1) require_cuda_torch ;;
  0) ;;
  *) die "TTS_REQUIRE_CUDA_TORCH must be 0 or 1, not '$TTS_REQUIRE_CUDA_TORCH'" ;;
esac

# Cython extensions (monotonic alignment search, soft-DTW, ...) are built in place. Cython, numpy's
# headers and a C compiler are build-time needs of those extensions only: nothing asks for them until
# a paper folder has a .pyx file. They come before the editable install, which runs setup.py.
build_requirements=()
has_extensions="$(find . -name '*.pyx' -not -path "./$venv/*" -not -path './build/*' -print -quit)"
if [ -n "$has_extensions" ]; then
  compiler="${CC:-cc}"
  command -v "$compiler" >/dev/null || command -v gcc >/dev/null \
    || die "a C compiler is needed to build the Cython extensions (Debian/Ubuntu: apt-get install gcc; set CC to use another)"
  include_dir="$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
  [ -f "$include_dir/Python.h" ] \
    || die "Python headers not found in $include_dir (Debian/Ubuntu: apt-get install python3-dev)"
  "$py" -c 'import Cython, numpy' 2>/dev/null || build_requirements=('cython>=3.0' numpy)
fi

# Re-run pip only when the declared dependencies changed since the last successful install.
stamp="$venv/.tts-install-stamp"
fingerprint="$(cat pyproject.toml setup.py | cksum)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$fingerprint" ]; then
  say "installing Python dependencies"
  "${pip[@]}" install "setuptools>=77" wheel "${build_requirements[@]}"
  "${pip[@]}" install --no-build-isolation -e ".[dev]"
  echo "$fingerprint" > "$stamp"
elif [ "${#build_requirements[@]}" -gt 0 ]; then
  say "installing Cython (a .pyx extension needs it to build)"
  "${pip[@]}" install "${build_requirements[@]}"
fi

if [ -n "$has_extensions" ]; then
  say "building Cython extensions in place"
  "$py" setup.py --quiet build_ext --inplace
fi

say "ready: $("$py" -c 'import torch; print("torch", torch.__version__, "| CUDA" if torch.cuda.is_available() else "| CPU")')"
