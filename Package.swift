// swift-tools-version:6.2
import PackageDescription

// QuicXDP: a QUIC datapath for Linux (XDP/AF_XDP + a sans-IO QUIC engine).
// Module boundaries follow DESIGN.md: the protocol layers (QuicWire, QuicCrypto, QuicTLS,
// QuicCore) never touch sockets, clocks or threads and build and test without root.
let package = Package(
    name: "QuicXDP",
    products: [
        .library(name: "QuicWire", targets: ["QuicWire"]),
        .library(name: "QuicCrypto", targets: ["QuicCrypto"]),
        .library(name: "QuicTLS", targets: ["QuicTLS"]),
        .library(name: "QuicCore", targets: ["QuicCore"]),
        .library(name: "QuicDatapath", targets: ["QuicDatapath"]),
        .library(name: "QuicXDP", targets: ["QuicXDP"]),
        .library(name: "QuicHTTP3", targets: ["QuicHTTP3"]),
        .executable(name: "quicxdp", targets: ["QuicXDPTool"]),
        .executable(name: "quicxdp-relay", targets: ["QuicRelayTool"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // System libraries, found through pkg-config (Debian: libssl-dev, libxdp-dev, libbpf-dev).
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CLibXDP",
            pkgConfig: "libxdp",
            providers: [.apt(["libxdp-dev", "libbpf-dev", "libelf-dev"])]
        ),
        // The one place for what Swift cannot reach: C macros and _GNU_SOURCE functions.
        .target(name: "CQuicShim", dependencies: ["COpenSSL"]),

        .target(name: "QuicWire"),
        .target(name: "QuicCrypto", dependencies: ["QuicWire", "COpenSSL", "CQuicShim"]),
        .target(name: "QuicTLS", dependencies: ["QuicCrypto", "QuicWire"]),
        .target(name: "QuicCore", dependencies: ["QuicWire", "QuicCrypto", "QuicTLS"]),
        // HTTP/3 (RFC 9114) and QPACK (RFC 9204) as a sans-IO codec and state machine over stream
        // bytes; QuicCore streams are plugged in by the embedding layer.
        .target(name: "QuicHTTP3", dependencies: ["QuicWire"]),

        // XDP program loading, pinned maps, AF_XDP and UDP ports, offloads, the poll-mode engine.
        .target(name: "QuicDatapath", dependencies: ["QuicWire", "QuicCore", "CLibXDP", "CQuicShim"]),
        // The embedding API and the applications the tool runs (file server, downloader).
        .target(name: "QuicXDP", dependencies: ["QuicCore", "QuicCrypto", "QuicDatapath", "QuicTLS", "QuicWire", "QuicHTTP3"]),
        // The operator's tool; the binary is `quicxdp` (target name avoids clashing with the
        // future QuicXDP embedding module on case-insensitive file systems).
        .executableTarget(
            name: "QuicXDPTool",
            dependencies: [
                "QuicDatapath", "QuicXDP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/quicxdp"
        ),
        // The impairment relay (issue 7): a userspace UDP relay between namespaces, since this
        // kernel has no netem. The library holds the engine; the executable is `quicxdp-relay`.
        .target(name: "QuicRelay", dependencies: ["CQuicShim"]),
        .executableTarget(
            name: "QuicRelayTool",
            dependencies: ["QuicRelay", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/quicxdp-relay"
        ),

        .testTarget(name: "QuicWireTests", dependencies: ["QuicWire"]),
        .testTarget(name: "QuicHTTP3Tests", dependencies: ["QuicHTTP3", "QuicWire"]),
        .testTarget(name: "QuicCoreTests", dependencies: ["QuicCore", "QuicWire", "QuicCrypto", "QuicTLS"]),
        .testTarget(
            name: "QuicDatapathTests",
            dependencies: ["QuicDatapath", "QuicCore", "QuicTLS", "QuicCrypto", "QuicWire", "CLibXDP", "CQuicShim"]),
        // Parsing and the link model without root; the relay across namespaces is in
        // QuicDatapathTests (RelayTests), next to the namespace helpers.
        .testTarget(name: "QuicRelayTests", dependencies: ["QuicRelay"]),
        .testTarget(
            name: "QuicCryptoTests",
            dependencies: ["QuicCrypto", "QuicWire"],
            resources: [.copy("Resources")]
        ),
        // Tests/PKI holds the certificates both suites read (made by Tests/PKI/make-certs.sh).
        .testTarget(
            name: "QuicTLSTests",
            dependencies: ["QuicTLS", "QuicCrypto", "QuicWire"],
            resources: [.copy("Resources")]
        ),

        .testTarget(name: "QuicXDPTests", dependencies: ["QuicXDP"]),

        // Runnable examples of the embedding API.
        .executableTarget(name: "EchoServer", dependencies: ["QuicXDP"], path: "Examples/EchoServer"),
        .executableTarget(name: "EchoClient", dependencies: ["QuicXDP"], path: "Examples/EchoClient"),

        // Benchmarks live apart from tests (`make bench`); CAllocCounter interposes malloc so a
        // benchmark can report heap allocations per operation.
        .target(name: "CAllocCounter", path: "Benchmarks/CAllocCounter"),
        .target(
            name: "BenchSupport", dependencies: ["CAllocCounter", "COpenSSL", "QuicCrypto", "QuicWire"],
            path: "Benchmarks/BenchSupport"),
        .executableTarget(
            name: "QuicBench",
            dependencies: ["QuicCrypto", "QuicWire", "BenchSupport"],
            path: "Benchmarks/QuicBench"
        ),
        // Client and server in one process over an in-memory path: goodput, packets/s,
        // allocations per packet, and the receive path against a raw AEAD open of the same bytes.
        .executableTarget(
            name: "CoreBench",
            dependencies: ["QuicCore", "QuicTLS", "QuicCrypto", "QuicWire", "BenchSupport"],
            path: "Benchmarks/CoreBench"
        ),
        // Handshakes/s of an in-memory client+server pair and the server's CPU against its
        // sign and key-share cost, measured in the same run.
        .executableTarget(
            name: "TLSBench",
            dependencies: ["QuicTLS", "QuicCrypto", "QuicWire"],
            path: "Benchmarks/TLSBench"
        ),
        .executableTarget(
            name: "DatapathBench",
            dependencies: ["QuicDatapath", "CLibXDP", "CQuicShim"],
            path: "Benchmarks/DatapathBench"
        ),
        // The embedding API's hand-off between application tasks and the worker thread: bulk
        // echo and ping-pong through QuicServer/QuicClient on loopback, and the hand-off queues
        // alone against a mutex-guarded list (the design before the lock-free queues).
        .executableTarget(
            name: "EmbeddingBench",
            dependencies: ["QuicXDP", "QuicDatapath", "CQuicShim"],
            path: "Benchmarks/EmbeddingBench"
        ),
        // ns and heap allocations per ACK through LossRecovery for each congestion controller.
        .executableTarget(
            name: "CongestionBench",
            dependencies: ["QuicCore", "QuicWire", "CAllocCounter"],
            path: "Benchmarks/CongestionBench"
        ),
        // Relay throughput against kernel forwarding over the same veth path (needs root and
        // quicxdp-relay built alongside: `swift build -c release`).
        .executableTarget(
            name: "RelayBench",
            dependencies: ["QuicDatapath", "CQuicShim"],
            path: "Benchmarks/RelayBench"
        ),
    ],
    swiftLanguageModes: [.v6]
)
