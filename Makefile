# The two commands a newcomer needs: `make demo` and `make test`. Both install the Debian
# packages first (scripts/install-deps.sh; a no-op once they are there).
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60
# WERROR=ON turns every compiler warning into an error (CI builds that way).
WERROR ?= OFF

.PHONY: deps build test unit integration demo fuzz bench bench-sim bench-gateway bench-cold-start bench-proxy bench-rest compare clean

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake --preset release -DSHARDLINE_WERROR=$(WERROR) >/dev/null
	@cmake --build --preset release -j $(JOBS)

test: build
	@cd build && ctest --output-on-failure -j 2

unit: build
	@cd build && ctest --output-on-failure -L unit

integration: build
	@cd build && ctest --output-on-failure -L integration

demo: build
	@bash scripts/demo.sh

fuzz: deps
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)
	@bash scripts/run-fuzz.sh $(FUZZ_SECONDS)

bench: build
	@bash bench/run.sh

bench-sim: build
	@bash bench/sim_run.sh

# Gateway ingest against @discordjs/ws (npm, pinned by bench/compare/peers/package-lock.json).
bench-gateway: build
	@bash bench/gateway_run.sh

# The bot endpoint (issue 14): events per core and the latency it adds against the same bot on
# the simulator (bench/proxy_endpoint_run.sh).
bench-proxy: build
	@bash bench/proxy_endpoint_run.sh

# Cold start of 64 shards under the supervisor against discord-hybrid-sharding (npm, pinned by
# bench/compare/peers/package-lock.json).
bench-cold-start: build
	@bash bench/cold_start.sh

# Discord REST calls through the hub's coordinator (issue 15) at half the simulator's limits,
# against direct calls and against the endpoints without the hub (bench/rest_coordinator_run.sh).
bench-rest: build
	@bash bench/rest_coordinator_run.sh

# Shardline against discord-hybrid-sharding, discord.js, @discordjs/ws, NATS and Redis in one run
# (bench/compare/run.sh): installs the peers, builds what it needs, and rewrites
# docs/benchmarks.md and docs/benchmarks/*.png. 20-23 minutes on 2 cores, 5-7 of them a cold build.
compare:
	@bash bench/compare/run.sh

clean:
	rm -rf build build-asan build-fuzz
