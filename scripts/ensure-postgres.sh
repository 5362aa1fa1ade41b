#!/bin/sh
# ensure-postgres.sh makes sure the PostgreSQL server the SDK's tests use is
# running on 127.0.0.1:5432 with trust auth for user postgres and a
# database named test. It starts an installed but stopped server, installs
# PostgreSQL with apt-get when it is missing, and is silent when all is
# well, so `make test` can call it every time.
#
# apt-get waits up to 10 minutes for the package manager's lock. Set
# HERALD_SKIP_POSTGRES=1 to skip; the PostgreSQL tests then fail under make
# test unless HERALD_REQUIRE_TOOLS=0 lets them skip.
# Set HERALD_TEST_POSTGRES to use another server: this script then does
# nothing.
set -eu

log() { printf 'ensure-postgres: %s\n' "$*" >&2; }

[ "${HERALD_SKIP_POSTGRES:-}" = 1 ] && exit 0
[ -n "${HERALD_TEST_POSTGRES:-}" ] && exit 0

have() { command -v "$1" >/dev/null 2>&1; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; elif have sudo; then sudo -n "$@"; else
		log "need root to run: $*"; return 1; fi
}

as_postgres() {
	if [ "$(id -u)" -eq 0 ] && have runuser; then runuser -u postgres -- "$@"; else
		as_root su postgres -c "$*"; fi
}

ready() { pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1; }

installed() { ls /etc/postgresql/*/main >/dev/null 2>&1; }

install() {
	log "installing postgresql"
	out=$(mktemp)
	if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq >"$out" 2>&1 ||
		! as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq postgresql >>"$out" 2>&1; then
		cat "$out" >&2; rm -f "$out"
		log "apt-get install postgresql failed; install it by hand or set HERALD_SKIP_POSTGRES=1"
		return 1
	fi
	rm -f "$out"
}

# trust_local lets user postgres connect over TCP from this machine without
# a password: the tests' DSN has none. Only loopback lines are added.
trust_local() {
	ver=$(ls /etc/postgresql | sort -n | tail -n 1)
	hba=/etc/postgresql/$ver/main/pg_hba.conf
	if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
		as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
		return 0
	fi
	return 1
}

start() {
	ver=$(ls /etc/postgresql | sort -n | tail -n 1)
	as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start >/dev/null 2>&1 ||
		as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main restart >/dev/null 2>&1 || true
}

wait_ready() {
	i=0
	while ! ready; do
		i=$((i + 1))
		if [ "$i" -gt 60 ]; then log "PostgreSQL did not become ready on 127.0.0.1:5432"; return 1; fi
		sleep 0.5
	done
}

if ! ready; then
	if ! installed; then
		have apt-get || { log "PostgreSQL is missing and apt-get is not available"; exit 1; }
		install
	fi
	trust_local || true
	start
	wait_ready
elif ! psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
	# Running, but no trust auth for us: add it and reload.
	if installed && trust_local; then
		ver=$(ls /etc/postgresql | sort -n | tail -n 1)
		as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main reload >/dev/null 2>&1 || true
		sleep 1
	fi
fi

if ! psql -h 127.0.0.1 -U postgres -d postgres -Atqc "select 1 from pg_database where datname = 'test'" 2>/dev/null | grep -q 1; then
	psql -h 127.0.0.1 -U postgres -d postgres -qc 'CREATE DATABASE test' >/dev/null 2>&1 ||
		as_postgres psql -qc 'CREATE DATABASE test' >/dev/null
fi
psql -h 127.0.0.1 -U postgres -d test -Atqc 'select 1' >/dev/null 2>&1 || {
	log "cannot connect to postgres://postgres@127.0.0.1:5432/test"; exit 1; }
