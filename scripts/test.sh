#!/usr/bin/env bash
# The project's test command: install what the tests need, then run pytest.
# Arguments go to pytest, e.g. `scripts/test.sh tests/test_sources.py -k imap`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
# shellcheck source=scripts/python-env.sh
source scripts/python-env.sh
ensure_python_env

status=0
"$PYTHON" -m pytest -q "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "test.sh: pytest collected no tests; that is a failure" >&2
    exit 1
fi
exit "$status"
