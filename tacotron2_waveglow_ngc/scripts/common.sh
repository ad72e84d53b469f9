# Sourced by this folder's scripts (not run on its own): where the folder and the repository are,
# paths made absolute, and the Python that runs everything. That Python is the one of the repository's
# virtual environment (TTS_VENV, default .venv, as install.sh makes it) or PYTHON, so no activated venv
# and no `torchrun` on PATH are needed.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repo_root="$(cd "$here/.." && pwd)"

# A path given by the user, made absolute against the folder they ran the script from.
absolute() {
  case "$1" in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$PWD/${1#./}" ;;
  esac
}

venv="${TTS_VENV:-.venv}"
case "$venv" in /*) ;; *) venv="$repo_root/$venv" ;; esac  # install.sh reads TTS_VENV from the root
py="${PYTHON:-$venv/bin/python}"
if ! command -v "$py" >/dev/null; then
  echo "$(basename "$0"): no Python at $py: run 'bash install.sh' in $repo_root first (or set TTS_VENV or PYTHON)" >&2
  exit 1
fi

# Run a command in place of the script; with TTS_DRY_RUN=1 only print it (shell-quoted).
launch() {
  if [ "${TTS_DRY_RUN:-0}" = 1 ]; then
    printf '%q ' "$@"
    printf '\n'
    exit 0
  fi
  exec "$@"
}
