# Thin wrapper over CMake: the targets a newcomer and CI use.
#   make / make run / make test / make test-asan / make test-tsan / make bench
#   make install PREFIX=/usr/local / make check-slow / make soak / make check-all / make clean
BUILD    ?= build
PREFIX   ?= /usr/local
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all build run run-httpd test test-asan test-tsan test-valgrind test-browser check-slow soak bench fuzz install check-all format clean

all: build

build:
	@tools/deps.sh build
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# The gateway demo in the foreground (gateway/demo/run.sh): three backends
# on 127.0.0.1:9001-9003, the gateway on 127.0.0.1:8080 in front of them and
# its dashboard on 127.0.0.1:9090; it prints the URLs; Ctrl-C stops them all.
run: build
	gateway/demo/run.sh $(BUILD)

# The plain HTTP demo server in the foreground on ADDR, serving www/: it
# prints the URLs of the page and of the live stats; Ctrl-C stops it.
ADDR ?= 127.0.0.1:8080
run-httpd: build
	$(BUILD)/examples/httpd -addr $(ADDR) -root www

test:
	@tools/deps.sh test
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGOC_TESTS=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan:
	@tools/deps.sh sanitize
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DGOC_TESTS=ON -DGOC_SANITIZE=address >/dev/null
	@cmake --build build-asan -j $(JOBS)
	# One test at a time: sanitizers slow everything several-fold, and the
	# fairness and latency tests must not also compete with each other.
	cd build-asan && ctest --output-on-failure -j 1

test-tsan:
	@tools/deps.sh sanitize
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DGOC_TESTS=ON -DGOC_SANITIZE=thread >/dev/null
	@cmake --build build-tsan -j $(JOBS)
	cd build-tsan && TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp $$TSAN_OPTIONS" \
		ctest --output-on-failure -j $(JOBS)

test-valgrind: build
	@tools/deps.sh test
	@cmake -S . -B build-vg -DCMAKE_BUILD_TYPE=Debug -DGOC_TESTS=ON -DGOC_VALGRIND=ON >/dev/null
	@cmake --build build-vg -j $(JOBS)
	cd build-vg && ctest --output-on-failure -L valgrind

# The live stats page (/debug/stats) and the gateway's dashboard in headless
# Chromium: each must poll, count and chart (tests/browser/run.sh and
# tests/browser/gateway.sh; 60 s at most each).
test-browser:
	@tools/deps.sh browser
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGOC_TESTS=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target statsd gwadmind
	tests/browser/run.sh $(BUILD)/tests/statsd
	tests/browser/gateway.sh $(BUILD)/tests/gwadmind

bench:
	@tools/deps.sh bench
	@cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DGOC_BENCH=ON >/dev/null
	@cmake --build build-bench -j $(JOBS)
	bench/run.sh build-bench

# libFuzzer on the HTTP parsers (fuzz/): replays fuzz/regression, then runs
# each target for FUZZ_SECONDS; fails on a crash (the input is left in
# build-fuzz/<target>-crash-*).
FUZZ_SECONDS ?= 60
fuzz:
	@tools/deps.sh fuzz
	@cmake -S fuzz -B build-fuzz -DCMAKE_C_COMPILER=clang >/dev/null
	@cmake --build build-fuzz -j $(JOBS)
	fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# Tests too slow for every run: slowloris (slowhttptest) against httpd, ~40 s.
check-slow: build
	@tools/deps.sh slow
	tests/peers/slowloris.sh $(BUILD)/examples/httpd

# The gateway under mixed traffic and faults (backends killed and restarted,
# failing health checks, slow answers, good and broken reloads) for
# SOAK_SECONDS: no failed GET, no wrong body, no hang, bounded RSS, a clean
# exit (tests/gateway/soak.py).
SOAK_SECONDS ?= 180
soak: build
	@tools/deps.sh test
	SOAK_SECONDS=$(SOAK_SECONDS) python3 tests/gateway/soak.py $(BUILD)/gateway

check-all: test test-asan test-tsan test-valgrind check-slow soak

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-tsan build-vg build-bench build-fuzz
