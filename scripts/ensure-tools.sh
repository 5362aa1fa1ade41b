#!/bin/sh
# ensure-tools.sh installs the external tools the test suite needs when they
# are missing. It is idempotent and silent when everything is present, so
# `make test` can call it every time.
#
# Tools:
#   kcat  (Debian package kcat; librdkafka) used by compat/ to check that a
#         librdkafka client can produce, consume and read metadata.
#
# apt-get waits up to 10 minutes for the package manager's lock when another
# install holds it. Set HERALD_SKIP_KCAT=1 to skip installing kcat; the kcat
# tests then fail under make test unless HERALD_REQUIRE_TOOLS=0 lets them skip.
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

ensure_kcat() {
	if have kcat || [ "${HERALD_SKIP_KCAT:-}" = 1 ]; then
		return 0
	fi
	if ! have apt-get; then
		log "kcat is missing and apt-get is not available; install kcat (librdkafka) by hand or set HERALD_SKIP_KCAT=1"
		return 1
	fi
	log "installing kcat"
	out=$(mktemp)
	trap 'rm -f "$out"' EXIT
	if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq >"$out" 2>&1 ||
		! as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq kcat >>"$out" 2>&1; then
		cat "$out" >&2
		log "apt-get install kcat failed; install kcat by hand or set HERALD_SKIP_KCAT=1"
		return 1
	fi
	if ! have kcat; then
		log "kcat is still missing after apt-get install"
		return 1
	fi
	log "installed $(kcat -V 2>&1 | head -n 1)"
}

ensure_kcat
