#!/bin/sh
# ensure-tools.sh installs the external tools the test suite needs when they
# are missing. It is idempotent and silent when everything is present, so
# `make test` can call it every time.
#
# Tools:
#   kcat  (Debian package kcat; librdkafka) used by compat/ to check that a
#         librdkafka client can produce, consume and read metadata.
#   chromium  (Debian package chromium) used by console/ to open every page
#         of the web console in a headless browser (chromedp).
#
# apt-get waits up to 10 minutes for the package manager's lock when another
# install holds it. Set HERALD_SKIP_KCAT=1 to skip installing kcat; the kcat
# tests then fail under make test unless HERALD_REQUIRE_TOOLS=0 lets them skip.
# HERALD_SKIP_CHROMIUM=1 does the same for chromium and the browser tests.
set -eu

have() { command -v "$1" >/dev/null 2>&1; }

log() { printf 'ensure-tools: %s\n' "$*" >&2; }

# as_root runs a command as root: directly if we are root, else via sudo -n.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif have sudo; then
		sudo -n "$@"
	else
		log "need root to run: $*"
		return 1
	fi
}

# apt_install installs the Debian package $1 that provides command $2;
# $3 names the variable that skips it.
apt_install() {
	pkg=$1 cmd=$2 skip=$3
	if ! have apt-get; then
		log "$cmd is missing and apt-get is not available; install $pkg by hand or set $skip=1"
		return 1
	fi
	log "installing $pkg"
	out=$(mktemp)
	if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq >"$out" 2>&1 ||
		! as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$pkg" >>"$out" 2>&1; then
		cat "$out" >&2
		rm -f "$out"
		log "apt-get install $pkg failed; install $pkg by hand or set $skip=1"
		return 1
	fi
	rm -f "$out"
	if ! have "$cmd"; then
		log "$cmd is still missing after apt-get install $pkg"
		return 1
	fi
}

ensure_kcat() {
	if have kcat || [ "${HERALD_SKIP_KCAT:-}" = 1 ]; then
		return 0
	fi
	apt_install kcat kcat HERALD_SKIP_KCAT || return 1
	log "installed $(kcat -V 2>&1 | head -n 1)"
}

ensure_chromium() {
	if have chromium || [ "${HERALD_SKIP_CHROMIUM:-}" = 1 ]; then
		return 0
	fi
	apt_install chromium chromium HERALD_SKIP_CHROMIUM || return 1
	log "installed $(chromium --version 2>/dev/null | head -n 1)"
}

ensure_kcat
ensure_chromium
