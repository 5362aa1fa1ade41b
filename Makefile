# Herald's make targets. `make help` lists them.
GO ?= go
PKGS ?= ./...
FUZZTIME ?= 15s
# golangci-lint runs through `go run` at this version (it builds with the go
# in go.mod); its configuration is .golangci.yml.
GOLANGCI_LINT_VERSION ?= v2.15.0
# make test turns a missing kcat or PostgreSQL into a test failure; a plain
# go test skips those tests with a message (HERALD_REQUIRE_TOOLS=0 here too).
HERALD_REQUIRE_TOOLS ?= 1

.PHONY: help build test bench-trace testmod testshort bench bench-eventstore bench-stream bench-partitions bench-kfake bench-security bench-peers bench-peers-quick fuzz verify lint crash bench-acl bench-share compat-kgo crash-saga bench-saga test-cluster test-orders test-orders-full bench-orders

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# USERMOD is a module outside Herald's that uses its public API only
# (heraldtest, the SDK); ./... skips it, being under testdata.
USERMOD = heraldtest/testdata/usermod

build: ## build ./herald, stamped with the VCS revision that `herald version` prints
	$(GO) build -buildvcs=auto -o herald ./cmd/herald

test: ## install what the tests need (as root: apt-get, PostgreSQL), then go vet and go test -race on every package
	@bash scripts/ensure-tools.sh
	@bash scripts/ensure-postgres.sh
	$(GO) vet $(PKGS)
	HERALD_REQUIRE_TOOLS=$(HERALD_REQUIRE_TOOLS) $(GO) test -race -count=1 -timeout 20m $(PKGS)
	@$(MAKE) --no-print-directory testmod
	@$(MAKE) --no-print-directory test-cluster
	@$(MAKE) --no-print-directory test-orders-full
	@$(MAKE) --no-print-directory compat-kgo

# CLUSTER_PKGS are the packages whose integration tests run on any Kafka
# cluster (internal/testenv.Brokers picks it).
CLUSTER_PKGS ?= ./pubsub/... ./event/crypt ./outbox/... ./saga/... ./projection/... ./registry ./registry/serde ./event/srcodec ./stream
test-cluster: ## CLUSTER_PKGS' tests on a 3-broker kfake cluster, leaders spread over the brokers, partition leaders and coordinators moving every 300ms; then the order system end to end (--brokers) on 3 kfake brokers
	HERALD_TEST_KFAKE=3 HERALD_TEST_LEADER_MOVES=300ms HERALD_REQUIRE_TOOLS=$(HERALD_REQUIRE_TOOLS) $(GO) test -race -count=1 -timeout 15m $(CLUSTER_PKGS)
	HERALD_TEST_KFAKE=3 HERALD_TEST_LEADER_MOVES=300ms $(GO) test -race -count=1 -run '^TestCommandsOnAnyCluster$$' ./internal/cli
	HERALD_TEST_KFAKE=3 HERALD_REQUIRE_TOOLS=$(HERALD_REQUIRE_TOOLS) $(GO) test -count=1 -timeout 10m -run '^TestEndToEndOnCluster$$' ./examples/orders/system

testmod: ## build, vet and test the separate module that uses Herald's public API only (heraldtest/testdata/usermod)
	cd $(USERMOD) && $(GO) vet ./... && $(GO) test -race -count=1 ./...

testshort: ## quick tests without the race detector
	$(GO) test -short $(PKGS)

bench: ## the storage engine's benchmarks, with the fdatasync baseline in the same run
	$(GO) test ./internal/log ./internal/records -run '^$$' -bench . -benchtime 2s -benchmem

bench-acl: ## the ACL authorizer with 10,000 ACLs against AllowAll: one check, and a whole produce request
	$(GO) test ./internal/acl -run '^$$' -bench Authorize -benchmem -count 3
	$(GO) test ./internal/kafka -run '^$$' -bench ProduceACL -benchmem -count 3

bench-share: ## share-group consumption, 8 consumers on 1 partition, against a classic group on 8 partitions (records/s, same run)
	$(GO) test ./compat -run '^$$' -bench ShareVsClassic -benchtime 200000x -count 3

PARTITIONS ?= 100000
TOPICS ?= 1000
bench-partitions: ## PARTITIONS (100000) over TOPICS (1000) under RLIMIT_NOFILE 1024: create, restart, RSS, produce/consume to a random 1%
	HERALD_SCALE_PARTITIONS=$(PARTITIONS) HERALD_SCALE_TOPICS=$(TOPICS) $(GO) test ./internal/kafka -run '^TestScalePartitions$$' -count 1 -v -timeout 120m

bench-kfake: ## 1M records of 1 KiB through Herald and kfake (SyncWrites) with franz-go; prints the ratios and peak RSS
	$(GO) test ./compat -run '^$$' -bench BenchmarkPeers -benchtime 1x -count 1

bench-security: ## produce and consume MB/s with franz-go over SASL_SSL+SCRAM-SHA-512 beside PLAINTEXT, same run (goal: >= 70%)
	@for i in 1 2 3 4 5; do $(GO) test ./internal/server -run '^$$' -bench SecureThroughput -benchtime 300000x -count 1 | grep '^Benchmark'; done

bench-peers: ## the peer comparison (Herald, kfake, NATS JetStream, Redis Streams); report in bench/results (ARGS=-quick for a short run)
	$(GO) run ./bench/cmd/peers $(ARGS)

bench-peers-quick: ## bench-peers -quick: under 2 minutes, ratios only (no targets table: too noisy to judge)
	$(GO) run ./bench/cmd/peers -quick

compat-kgo: ## franz-go's own kgo integration suite against a Herald built from this checkout (about 2 minutes; make test runs it; ARGS go to go test)
	bash scripts/kgo-suite.sh $(ARGS)

TRACE_BENCH_RECORDS ?= 10000000
bench-trace: ## flow trace lookup through the correlation index vs a full scan, over TRACE_BENCH_RECORDS (10M) records in 3-event flows
	TRACE_BENCH_RECORDS=$(TRACE_BENCH_RECORDS) $(GO) test ./internal/corrindex -run '^$$' -bench Trace -benchtime 20x -count 1 -timeout 60m

STREAM_BENCH_RECORDS ?= 1000000
bench-stream: ## stream: keyed count and 1-minute tumbling windows vs a raw franz-go loop, and restore, over STREAM_BENCH_RECORDS (1M)
	STREAM_BENCH_RECORDS=$(STREAM_BENCH_RECORDS) $(GO) test ./stream -run '^$$' -bench 'KeyedCount|TumblingWindow|Restore' -benchtime 1x -count 3

fuzz: ## run every fuzz target briefly (FUZZTIME each)
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME); \
	  done; done

.PHONY: bench-crypt
bench-crypt: ## event/crypt: encode+decode of a 1 KiB JSON event, plain JSON beside the encrypting codec, same run
	$(GO) test ./event/crypt -run '^$$' -bench BenchmarkCodec -benchmem -count 6

EVENTS ?= 1000000
bench-eventstore: ## event store and projection benchmarks beside raw SQL baselines (SQLite, PostgreSQL); rebuild over EVENTS (1000000)
	$(GO) test ./eventstore/sqlite ./eventstore/postgres -run '^$$' -bench . -benchtime 3s
	HERALD_PROJECTION_BENCH_EVENTS=$(EVENTS) $(GO) test ./projection -run '^$$' -bench Rebuild -benchtime 1x -timeout 60m

crash: ## the SIGKILL crash test with many more kill cycles
	$(GO) test ./internal/log -run 'TestCrash' -count 1 -v -crash.cycles=1000

verify: lint ## gofmt, go vet, golangci-lint, and go mod tidy (here and in USERMOD) leave nothing to change
	@test -z "$$(gofmt -l .)" || (echo "gofmt needed:"; gofmt -l .; exit 1)
	$(GO) vet $(PKGS)
	@cp go.mod /tmp/herald.go.mod.bak; cp go.sum /tmp/herald.go.sum.bak; \
	$(GO) mod tidy; \
	if ! git diff --quiet -- go.mod go.sum; then echo "go mod tidy changes go.mod/go.sum:"; git --no-pager diff -- go.mod go.sum; \
	  cp /tmp/herald.go.mod.bak go.mod; cp /tmp/herald.go.sum.bak go.sum; exit 1; fi
	@cd $(USERMOD) && cp go.mod /tmp/herald.usermod.go.mod.bak && cp go.sum /tmp/herald.usermod.go.sum.bak && $(GO) mod tidy && \
	if ! git diff --quiet -- go.mod go.sum; then echo "go mod tidy changes $(USERMOD)/go.mod or go.sum:"; git --no-pager diff -- go.mod go.sum; \
	  cp /tmp/herald.usermod.go.mod.bak go.mod; cp /tmp/herald.usermod.go.sum.bak go.sum; exit 1; fi

lint: ## golangci-lint (GOLANGCI_LINT_VERSION, config .golangci.yml)
	$(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION) run $(PKGS)

crash-saga: ## the saga SIGKILL crash test (SQLite and PostgreSQL) with 20 orders: kills after one stored transition after another
	$(GO) test ./saga -run '^TestCrash$$' -count 1 -v -saga.crash.orders=20 -timeout 30m

test-orders-full: ## the order-management example's end-to-end test, and with chaos (TestEndToEndChaos), with 1,000 orders per database and saga style, without -race (the -race run in make test places 200)
	HERALD_REQUIRE_TOOLS=$(HERALD_REQUIRE_TOOLS) $(GO) test -count=1 -timeout 20m -run '^TestEndToEnd(Chaos)?$$' ./examples/orders/system

test-orders: ## the order-management example's end-to-end test with 1,000 orders per database and saga style, under -race (make test places 200 under -race)
	HERALD_ORDERS_E2E_N=1000 $(GO) test -race ./examples/orders/system -run '^TestEndToEnd$$' -count 1 -v -timeout 40m

bench-orders: ## the order-management example: orders/s end to end (placed → shipped) and p50/p99 at a fixed offered rate (ARGS: --rate, --orders, --saga, --postgres)
	$(GO) run ./examples/orders --bench $(ARGS)

bench-saga: ## completed 3-step sagas per second against the outbox's raw write rate, SQLite and PostgreSQL, same run
	$(GO) test ./saga -run '^$$' -bench BenchmarkSaga -benchtime 3s -benchmem
