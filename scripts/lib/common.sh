# Shared helpers for the scripts in this folder. Source it; do not run it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export ROOT

log() { printf '==> %s\n' "$*" >&2; }

# ensure_packages PKG...: installs the Debian packages that are missing (as root, or with sudo).
ensure_packages() {
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    log "installing missing packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The system packages every build needs (libyaml for config, a C compiler for C plugins).
ensure_build_packages() {
    ensure_packages libyaml-dev librdkafka-dev libpq-dev pkg-config gcc libc6-dev
}

# What the tests need beyond the build (systemd-analyze verifies the unit file).
ensure_test_packages() {
    ensure_build_packages
    ensure_packages systemd kcat postgresql
}

# Build configuration (debug or release) and where SwiftPM puts products.
BUILD_CONFIGURATION="${BUILD_CONFIGURATION:-debug}"
bin_dir() { swift build -c "$BUILD_CONFIGURATION" --show-bin-path; }
