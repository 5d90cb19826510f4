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

# ensure_python_module MODULE PACKAGE: pip-installs PACKAGE from PyPI unless MODULE imports.
ensure_python_module() {
    command -v python3 >/dev/null || ensure_packages python3
    python3 -c "import $1" 2>/dev/null && return 0
    python3 -m pip --version >/dev/null 2>&1 || ensure_packages python3-pip
    log "installing $2 from PyPI"
    # --break-system-packages: Debian's own python3 refuses pip installs without it (PEP 668).
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --break-system-packages "$2" >&2
}

# What the tests need beyond the build (systemd-analyze verifies the unit files; aamva-parser
# is the independent reference for the ID barcode reader; requests is the independent client
# of pos-api's GraphQL API, websockets of its live pushes; kcat produces in their tests; Selenium drives Debian's
# chromium through Debian's chromedriver for the browser tests, downloading nothing).
ensure_test_packages() {
    ensure_build_packages
    ensure_packages systemd kcat postgresql postgresql-contrib tzdata nodejs chromium chromium-driver
    ensure_python_module aamva_parser aamva-parser
    ensure_python_module requests requests
    ensure_python_module websockets websockets
    ensure_python_module selenium selenium
}

# Build configuration (debug or release) and where SwiftPM puts products.
BUILD_CONFIGURATION="${BUILD_CONFIGURATION:-debug}"
bin_dir() { swift build -c "$BUILD_CONFIGURATION" --show-bin-path; }
