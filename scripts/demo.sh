#!/usr/bin/env bash
# The main job on the embedded default: a Maildir of generated sample responses -> SQLite ->
# acknowledgements written to var/outbox/ -> the report. Run it again and nothing is taken twice.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/python-env.sh
source scripts/python-env.sh
ensure_python_env

"$PYTHON" scripts/make_sample_maildir.py var/sample-maildir
.venv/bin/intake --config config.toml run
.venv/bin/intake --config config.toml report
.venv/bin/intake --config config.toml report --html var/report.html
echo
echo "Filed responses:        .venv/bin/intake export            (JSON lines)"
echo "Acknowledgements sent:  var/outbox/*.eml"
echo "Staff report:           var/report.html"
