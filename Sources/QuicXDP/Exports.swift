// The embedding API: `import QuicXDP` brings the engine's public types with it.
@_exported import QuicCore
@_exported import QuicCrypto
@_exported import QuicDatapath
@_exported import QuicTLS
@_exported import QuicWire
