// swift-tools-version:6.0
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

        .testTarget(name: "QuicWireTests", dependencies: ["QuicWire"]),
        .testTarget(name: "QuicCoreTests", dependencies: ["QuicCore", "QuicWire", "QuicCrypto", "QuicTLS"]),
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

        // Benchmarks live apart from tests (`make bench`); CAllocCounter interposes malloc so a
        // benchmark can report heap allocations per operation.
        .target(name: "CAllocCounter", path: "Benchmarks/CAllocCounter"),
        .executableTarget(
            name: "QuicBench",
            dependencies: ["QuicCrypto", "QuicWire", "COpenSSL", "CAllocCounter"],
            path: "Benchmarks/QuicBench"
        ),
        // Handshakes/s of an in-memory client+server pair and the server's CPU against its
        // sign and key-share cost, measured in the same run.
        .executableTarget(
            name: "TLSBench",
            dependencies: ["QuicTLS", "QuicCrypto", "QuicWire"],
            path: "Benchmarks/TLSBench"
        ),
    ],
    swiftLanguageModes: [.v6]
)
