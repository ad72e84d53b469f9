#!/usr/bin/env bash
# The test suite: installs what it needs (install.sh), lints with ruff, then runs pytest.
# Extra arguments go to pytest, e.g. `bash run_tests.sh -k shared_text` or `--device cuda`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
bash install.sh
py="${TTS_VENV:-.venv}/bin/python"
"$py" -m ruff check .
# pytest exits 5 when it collected no test; that is a failure here too.
"$py" -m pytest "$@"
