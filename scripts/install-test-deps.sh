#!/usr/bin/env bash
# Install what the test suite needs: Debian packages for the real servers and converters, the
# project itself with its test extras, and a running PostgreSQL. Safe to run again: it skips
# whatever is already there, so a warm machine pays only for the pip check.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(dovecot-imapd libreoffice-writer-nogui chromium chromium-driver poppler-utils openssl fonts-dejavu-core python3-venv)

log() { printf 'install-test-deps: %s\n' "$*" >&2; }

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        log "need root for: $*"
        return 1
    fi
}

apt_install() {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

install_debian_packages() {
    local missing=()
    for pkg in "${DEBIAN_PACKAGES[@]}"; do
        is_installed "$pkg" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    log "installing ${missing[*]}"
    # Update the package lists only when the install cannot proceed with the ones we have.
    if ! apt_install "${missing[@]}"; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
        apt_install "${missing[@]}"
    fi
}

stop_system_dovecot() {
    # The tests run their own Dovecot on free ports; a system one started by the package is not needed.
    local pidfile=/run/dovecot/master.pid
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        log "stopping the system dovecot (pid $(cat "$pidfile")); the tests start their own"
        as_root kill "$(cat "$pidfile")" || true
    fi
}

install_python_project() {
    # shellcheck source=scripts/python-env.sh
    source scripts/python-env.sh
    ensure_python_env
}

start_postgresql() {
    if ! command -v pg_isready >/dev/null; then
        log "pg_isready not found: PostgreSQL tests will fail under CI"
        return 0
    fi
    if pg_isready -q -h 127.0.0.1 -p 5432; then
        return 0
    fi
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$version" ]; then
        log "no PostgreSQL cluster under /etc/postgresql"
        return 0
    fi
    log "starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || log "could not start PostgreSQL"
    for _ in $(seq 1 50); do
        pg_isready -q -h 127.0.0.1 -p 5432 && return 0
        sleep 0.2
    done
    log "PostgreSQL is still not accepting connections"
}

install_debian_packages
stop_system_dovecot
install_python_project
start_postgresql
