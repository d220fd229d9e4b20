# Sourced by the project's scripts: make sure .venv holds the project and its test extras, and set
# PYTHON to its interpreter. A virtual environment keeps the project off the system's Python
# (Debian's is "externally managed" and refuses pip installs) and makes every run start alike.
# shellcheck shell=bash

venv_log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }

ensure_python_env() {
    local base=${INTAKE_BASE_PYTHON:-python3}
    if ! "$base" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        venv_log "Python 3.11 or newer is needed as '$base' (set INTAKE_BASE_PYTHON to another one)"
        return 1
    fi
    if [ ! -x .venv/bin/python ]; then
        venv_log "creating .venv"
        if ! "$base" -m venv .venv 2>/dev/null; then
            # Debian ships venv separately.
            rm -rf .venv
            if [ "$(id -u)" -eq 0 ]; then
                DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null ||
                    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null; }
            fi
            "$base" -m venv .venv
        fi
    fi
    # Reinstall only when the dependency list changed since the last install.
    local stamp=.venv/.installed-pyproject
    if [ ! -f "$stamp" ] || ! cmp -s pyproject.toml "$stamp"; then
        venv_log "installing the project and its test extras into .venv"
        .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip setuptools
        .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
        cp pyproject.toml "$stamp"
    fi
    PYTHON=$PWD/.venv/bin/python
    export PYTHON
}
