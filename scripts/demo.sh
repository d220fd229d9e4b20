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

# A reviewer for the staff pages, with a one-time password (they choose their own at the first sign-in).
if .venv/bin/intake --config config.toml user list | grep -q '^demo '; then
    demo_password="(printed by the first run; or add another: .venv/bin/intake user add NAME --role reviewer)"
else
    demo_password=$("$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(12))')
    printf '%s\n' "$demo_password" | .venv/bin/intake --config config.toml user add demo --role reviewer --one-time
fi
echo
echo "Staff pages:            .venv/bin/intake web     then open http://127.0.0.1:8080/"
echo "                        sign in as demo, one-time password: $demo_password"
