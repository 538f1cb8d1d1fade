import QuicWire

/// Compatible version negotiation (RFC 9368 §2.3) between QUIC v1 and v2 (RFC 9369 §4): the
/// server may answer a client's first flight in another version the client lists as available,
/// and both sides check the authenticated version_information against the versions their
/// packets used (RFC 9368 §4).
enum CompatibleVersionNegotiation {
    /// Whether a first flight of `original` can be converted to `other` (RFC 9368 §2.2). v1 and
    /// v2 are compatible both ways (RFC 9369 §4); every version is with itself.
    static func areCompatible(_ original: QuicVersion, _ other: QuicVersion) -> Bool {
        original == other || (original.isSupported && other.isSupported)
    }

    /// The client's Available Versions (RFC 9368 §3), most preferred first: the configured ones its
    /// first flight in `chosen` is compatible with, in the configured order, with `chosen` first
    /// when not among them. Nothing configured: `chosen`, then the other versions we speak.
    static func clientAvailableVersions(chosen: QuicVersion, configured: [QuicVersion]) -> [QuicVersion] {
        var available: [QuicVersion] = []
        for version in configured.isEmpty ? [chosen] + QuicVersion.supported : configured
        where areCompatible(chosen, version) && !available.contains(version) {
            available.append(version)
        }
        if !available.contains(chosen) { available.insert(chosen, at: 0) }
        return available
    }

    /// The server's Available Versions (RFC 9368 §3): the deployment's, or all we speak.
    static func serverAvailableVersions(configured: [QuicVersion]) -> [QuicVersion] {
        configured.isEmpty ? QuicVersion.supported : configured
    }

    /// The server's choice (RFC 9368 §2.3): the first of its `preferred` versions that it
    /// supports, that the client offered, and that the client's version converts to; otherwise
    /// the client's version. A client whose Chosen Version is not the version of its packets gets
    /// no switch (that is a version negotiation error, raised when the parameters are applied).
    static func serverChoice(
        original: QuicVersion, client: TransportParameters.VersionInformation?, preferred: [QuicVersion]
    ) -> QuicVersion {
        guard let client, client.chosenVersion == original else { return original }
        for candidate in preferred where candidate.isSupported {
            if candidate == original { return original }
            if client.availableVersions.contains(candidate) && areCompatible(original, candidate) { return candidate }
        }
        return original
    }

    /// The server's quic_transport_parameters once the client's are known: version_information
    /// names the version the connection will use (RFC 9368 §3). Runs inside the TLS handshake,
    /// before EncryptedExtensions is written, so it must be a pure function of its inputs.
    static func serverParameters(
        base: TransportParameters, original: QuicVersion, preferred: [QuicVersion], available: [QuicVersion],
        override: (@Sendable (inout TransportParameters) -> Void)?, clientParameters: [UInt8]
    ) -> [UInt8] {
        let decoded = clientParameters.withUnsafeBytes { raw in
            try? TransportParameters.decode(raw, sentBy: .client)
        }
        var parameters = base
        parameters.versionInformation = TransportParameters.VersionInformation(
            chosenVersion: serverChoice(original: original, client: decoded?.versionInformation, preferred: preferred),
            availableVersions: available)
        override?(&parameters)
        return parameters.encode()
    }
}
