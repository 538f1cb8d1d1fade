import BenchSupport
import Glibc
import QuicCrypto
import QuicWire

// Packet protection benchmark (issue 2): 1200-byte 1-RTT packets (8-byte DCID, 2-byte packet
// number, 1173 bytes of payload, 16-byte tag), QuicCrypto against the same OpenSSL EVP calls made
// directly, in the same process and run. Unprotect rounds restore the ciphertext with one
// 1200-byte memcpy before each call, on both sides alike.

let packetSize = 1200
let pnOffset = 9
let pnLength = 2
let iterations = 200_000

func makePacket() -> UnsafeMutableRawBufferPointer {
    let packet = UnsafeMutableRawBufferPointer.allocate(byteCount: packetSize, alignment: 64)
    var writer = ByteWriter(packet)
    _ = HeaderEncoder.encodeShort(
        destinationCID: ConnectionID(bytes: [1, 2, 3, 4, 5, 6, 7, 8])!, keyPhase: false, packetNumber: 0x1234,
        packetNumberLength: pnLength, into: &writer)
    for index in writer.offset..<packetSize { packet[index] = UInt8(truncatingIfNeeded: index) }
    return packet
}

// The allocation counter must see an allocation where there is one, or its zeros mean nothing.
print("allocation counter self-check: \(format(checkAllocationCounter(), decimals: 2)) allocations per 64-byte Array (expected >= 1)")

print("QuicXDP packet protection benchmark: \(packetSize)-byte packets, best of 7 rounds x \(iterations) operations")
print("(ratio = QuicCrypto / raw EVP; target <= 1.10; allocations per operation target 0)")
print("")
print(
    pad("suite", 30) + pad("operation", 11) + pad("QuicCrypto ns", 15) + pad("raw EVP ns", 12) + pad("ratio", 8)
        + "allocs/op (QuicCrypto, raw)")

var worstRatio = 0.0
for suite in CipherSuite.allCases {
    let secret = secureRandomBytes(count: suite.hash.digestLength)
    let material = PacketKeyMaterial(suite: suite, secret: secret, version: .v1)
    let sealKeys = try PacketProtectionKeys(suite: suite, secret: secret, version: .v1, direction: .seal)
    let openKeys = try PacketProtectionKeys(suite: suite, secret: secret, version: .v1, direction: .open)
    let rawSeal = RawEVPPacketProtection(suite: suite, material: material, sealing: true)
    let rawOpen = RawEVPPacketProtection(suite: suite, material: material, sealing: false)

    let packet = makePacket()
    let pristine = makePacket()
    defer {
        packet.deallocate()
        pristine.deallocate()
    }
    let base = packet.baseAddress!.assumingMemoryBound(to: UInt8.self)

    // Cross-check: each side opens what the other sealed, so both do the same work.
    rawSeal.protect(pristine.baseAddress!.assumingMemoryBound(to: UInt8.self), count: packetSize, pnOffset: pnOffset, pnLength: pnLength, packetNumber: 0x1234)
    packet.copyMemory(from: UnsafeRawBufferPointer(pristine))
    guard PacketProtection.unprotect(packet: packet, packetNumberOffset: pnOffset, largestProcessed: 0x1233, keys: openKeys) != nil else {
        fatalError("QuicCrypto could not open the raw EVP packet for \(suite)")
    }
    packet.copyMemory(from: UnsafeRawBufferPointer(pristine))
    guard rawOpen.unprotect(base, count: packetSize, pnOffset: pnOffset, packetNumber: 0x1234) else {
        fatalError("raw EVP could not open its own packet for \(suite)")
    }

    var packetNumber: UInt64 = 0x1234
    let ourProtect = measure(iterations: iterations) {
        packetNumber &+= 1
        PacketProtection.protect(
            packet: packet, packetNumberOffset: pnOffset, packetNumberLength: pnLength, packetNumber: packetNumber,
            keys: sealKeys)
    }
    let rawProtect = measure(iterations: iterations) {
        packetNumber &+= 1
        rawSeal.protect(base, count: packetSize, pnOffset: pnOffset, pnLength: pnLength, packetNumber: packetNumber)
    }
    let source = UnsafeRawBufferPointer(pristine)
    var failures = 0
    let ourUnprotect = measure(iterations: iterations) {
        packet.copyMemory(from: source)
        if PacketProtection.unprotect(packet: packet, packetNumberOffset: pnOffset, largestProcessed: 0x1233, keys: openKeys) == nil {
            failures += 1
        }
    }
    let rawUnprotect = measure(iterations: iterations) {
        packet.copyMemory(from: source)
        if !rawOpen.unprotect(base, count: packetSize, pnOffset: pnOffset, packetNumber: 0x1234) { failures += 1 }
    }
    precondition(failures == 0, "authentication failures during the benchmark")

    for (name, ours, raw) in [("protect", ourProtect, rawProtect), ("unprotect", ourUnprotect, rawUnprotect)] {
        let ratio = ours.nanosecondsPerOperation / raw.nanosecondsPerOperation
        worstRatio = max(worstRatio, ratio)
        print(
            pad(suite.description, 30) + pad(name, 11) + pad(format(ours.nanosecondsPerOperation), 15)
                + pad(format(raw.nanosecondsPerOperation), 12) + pad(format(ratio, decimals: 3), 8)
                + "\(format(ours.allocationsPerOperation, decimals: 3)), \(format(raw.allocationsPerOperation, decimals: 3))")
    }
}
print("")
print("worst ratio: \(format(worstRatio, decimals: 3)) (target <= 1.10)")
