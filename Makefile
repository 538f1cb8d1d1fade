# QuicXDP — see README.md. `make test` is the test command CI runs (.ci/run).
SWIFT ?= swift
SWIFT_BUILD_FLAGS ?=

.PHONY: all deps build test bench bpf clean demo interop

all: build

deps:
	@tools/install-deps.sh

bpf: deps
	@if [ -f bpf/Makefile ]; then $(MAKE) -s -C bpf; fi

build: deps bpf
	$(SWIFT) build $(SWIFT_BUILD_FLAGS)

test: deps bpf
	$(SWIFT) build --build-tests $(SWIFT_BUILD_FLAGS)
	$(SWIFT) test --skip-build $(SWIFT_BUILD_FLAGS)
	tools/interop/interop.py --quick --binary .build/debug/quicxdp

bench: deps bpf
	$(SWIFT) run -c release $(SWIFT_BUILD_FLAGS) QuicBench
	$(SWIFT) run -c release $(SWIFT_BUILD_FLAGS) CoreBench
	$(SWIFT) run -c release $(SWIFT_BUILD_FLAGS) TLSBench
	$(SWIFT) run -c release $(SWIFT_BUILD_FLAGS) DatapathBench
	$(SWIFT) run -c release $(SWIFT_BUILD_FLAGS) CongestionBench
	$(SWIFT) run -c release $(SWIFT_BUILD_FLAGS) EmbeddingBench
	$(SWIFT) build -c release $(SWIFT_BUILD_FLAGS) --product quicxdp-relay
	$(SWIFT) run -c release $(SWIFT_BUILD_FLAGS) RelayBench
	$(SWIFT) build -c release --product quicxdp $(SWIFT_BUILD_FLAGS)
	tools/interop/ccbench.py

demo: deps bpf
	tools/demo.sh

interop: deps bpf
	$(SWIFT) build -c release --product quicxdp $(SWIFT_BUILD_FLAGS)
	$(SWIFT) build -c release --product quicxdp-relay $(SWIFT_BUILD_FLAGS)
	tools/interop/interop.py

clean:
	rm -rf .build
	@if [ -f bpf/Makefile ]; then $(MAKE) -s -C bpf clean; fi
