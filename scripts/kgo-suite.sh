#!/usr/bin/env bash
# kgo-suite.sh runs franz-go's own kgo integration suite (the tests its
# maintainers run against Apache Kafka) against a Herald built from this
# checkout, and prints the failures and skips.
#
# The suite comes from the module cache at the franz-go version go.mod
# requires. Herald runs on a free loopback port with a temporary data dir,
# durability none (the suite tests the protocol, not fsync) and no initial
# rebalance delay (as the suite's own Kafka setup has). KGO_TEST_RF=1: the
# suite's topics otherwise ask for 3 replicas, which one broker cannot
# give. A second, SASL_PLAINTEXT listener with a bootstrap user serves the
# suite's SCRAM tests (KGO_TEST_SCRAM_SEEDS). TestOAuthAuth stays skipped:
# it sends unsecured tokens ({"alg":"none"}) that Kafka's default
# validator accepts and Herald, which checks signatures against a JWKS,
# refuses. Extra arguments go to go test (e.g. -run TestGroupETL).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
version=$(go list -m -f '{{.Version}}' github.com/twmb/franz-go)
go mod download "github.com/twmb/franz-go@$version"
src=$(go list -m -f '{{.Dir}}' "github.com/twmb/franz-go@$version")
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/herald" ./cmd/herald
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(freeport)
scram_port=$(freeport)
# A second listener with SASL for the suite's SCRAM tests, and its user.
scram_pass=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
HERALD_SASL_BOOTSTRAP_PASSWORD="$scram_pass" "$work/herald" serve --data-dir "$work/data" \
	--listeners "PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$scram_port" --sasl-bootstrap-user kgo \
	--registry-listen "" --http-listen "" \
	--group-initial-rebalance-delay 0 --durability none >"$work/herald.log" 2>&1 &
pid=$!
for _ in $(seq 50); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
	sleep 0.1
done
echo "kgo-suite: franz-go $version against Herald on 127.0.0.1:$port" >&2
status=0
(cd "$src" && KGO_SEEDS="127.0.0.1:$port" KGO_TEST_RF=1 KGO_LOG_LEVEL=none \
	KGO_TEST_SCRAM_SEEDS="127.0.0.1:$scram_port" KGO_TEST_SCRAM="kgo:$scram_pass:512" \
	go test ./pkg/kgo -count=1 -timeout 30m -v "$@") >"$work/suite.log" 2>&1 || status=$?
grep -E -- '^--- (FAIL|SKIP)' "$work/suite.log" || true
grep -B1 -E -- '^--- SKIP' "$work/suite.log" | grep -E '_test.go' | sed 's/^ */  skip reason: /' || true
printf 'kgo-suite: %s tests passed, %s failed, %s skipped\n' \
	"$(grep -c -- '--- PASS' "$work/suite.log" || true)" \
	"$(grep -c -- '--- FAIL' "$work/suite.log" || true)" \
	"$(grep -c -- '--- SKIP' "$work/suite.log" || true)"
tail -n 3 "$work/suite.log"
exit $status
