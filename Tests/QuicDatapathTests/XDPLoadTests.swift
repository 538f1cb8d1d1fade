import CLibXDP
import CQuicShim
import Foundation
import Testing

@testable import QuicDatapath

/// `quicxdp load/status/stats/unload` against a veth in a namespace: pins, bpftool's view of the
/// stats map, errors that name cause and fix.
@Suite(.enabled(if: isRoot, rootReason))
struct XDPLoadTests {
    @Test("load pins the maps, bpftool prints the stats fields, unload removes program and pins")
    func loadPinsAndUnload() throws {
        try withNamespacePair("load") { pair in
            let load = try run(pair.command([quicxdpBinary, "load", "--dev", pair.interfaceA, "--port", "4433,443"]))
            #expect(load.status == 0, "\(load.output)")
            #expect(load.output.contains("native mode"))

            let directory = XDPPins.directory(for: pair.interfaceA)
            for name in XDPPins.names {
                #expect(FileManager.default.fileExists(atPath: directory + "/" + name), "missing pin \(name)")
            }
            let dump = try run(["bpftool", "map", "dump", "pinned", directory + "/stats"])
            #expect(dump.status == 0, "\(dump.output)")
            for field in XDPStats().fields.map(\.name) {
                #expect(dump.output.contains("\"\(field)\""), "bpftool output lacks \(field)")
            }
            #expect(try portEntry(directory, 4433) == 1)
            #expect(try portEntry(directory, 443) == 1)
            #expect(try portEntry(directory, 80) == 0)

            let status = try run(pair.command([quicxdpBinary, "status", "--dev", pair.interfaceA, "--json"]))
            #expect(status.status == 0, "\(status.output)")
            let json = try JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [[String: Any]]
            let entry = try #require(json?.first)
            #expect(entry["ports"] as? [Int] == [443, 4433])
            let attached = try #require(entry["attached"] as? [String: Any])
            #expect(attached["mode"] as? String == "native")
            #expect(attached["isQuicXDP"] as? Bool == true)
            let offloads = try #require((entry["offloads"] as? [String: Any])?["entries"] as? [[String: Any]])
            #expect(offloads.contains { $0["capability"] as? String == "AF_XDP zero-copy" })

            let text = try run(pair.command([quicxdpBinary, "status", "--dev", pair.interfaceA]))
            #expect(text.output.contains("offloads") && text.output.contains("QUIC crypto offload"))

            let stats = try run(pair.command([quicxdpBinary, "stats", "--dev", pair.interfaceA]))
            #expect(stats.status == 0 && stats.output.contains("dropped_short_initial"))

            // Loading again reuses the pinned maps and updates the ports.
            let reload = try run(pair.command([quicxdpBinary, "load", "--dev", pair.interfaceA, "--port", "8443"]))
            #expect(reload.status == 0 && reload.output.contains("already attached"), "\(reload.output)")
            #expect(try portEntry(directory, 8443) == 1)
            #expect(try portEntry(directory, 4433) == 0)

            let unload = try run(pair.command([quicxdpBinary, "unload", "--dev", pair.interfaceA]))
            #expect(unload.status == 0, "\(unload.output)")
            let link = try run(["ip", "-n", pair.namespaceA, "-d", "link", "show", pair.interfaceA])
            #expect(!link.output.contains("prog/xdp"), "\(link.output)")
            #expect(!FileManager.default.fileExists(atPath: directory))
        }
    }

    @Test("auto attach: libxdp's dispatcher, or a direct attach that says why; status shows the method; traffic is redirected; unload leaves nothing")
    func attachMethodAuto() throws {
        try withNamespacePair("att") { pair in
            let interface = pair.interfaceA
            let index = try pair.inA { try XDPLoader.interfaceIndex(interface) }
            let rootBefore = FileManager.default.fileExists(atPath: XDPDispatcher.pinRoot)
            let load = try run(pair.command([quicxdpBinary, "load", "--dev", interface, "--port", "4433"]))
            #expect(load.status == 0, "\(load.output)")
            let method: XDPAttachMethod = load.output.contains("through libxdp's dispatcher") ? .dispatcher : .direct
            if method == .direct {
                // The fallback names itself and the reason.
                #expect(load.output.contains("dispatcher is not available") && load.output.contains("attached directly"), "\(load.output)")
                #expect(XDPDispatcher.dispatcherPins(index).isEmpty, "a failed dispatcher attempt left pins")
                #expect(FileManager.default.fileExists(atPath: XDPDispatcher.pinRoot) == rootBefore)
            }
            let status = try run(pair.command([quicxdpBinary, "status", "--dev", interface, "--json"]))
            let json = try JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [[String: Any]]
            let attached = try #require(json?.first?["attached"] as? [String: Any])
            #expect(attached["method"] as? String == method.rawValue)
            #expect(attached["isQuicXDP"] as? Bool == true)
            let text = try run(pair.command([quicxdpBinary, "status", "--dev", interface]))
            #expect(text.output.contains(method.phrase), "\(text.output)")

            // QUIC to the port reaches an AF_XDP socket whichever way the program is attached.
            let echoed = try echoThroughAFXDP(pair, port: 4433, datagrams: 8)
            #expect(echoed == 8)

            let unload = try run(pair.command([quicxdpBinary, "unload", "--dev", interface]))
            #expect(unload.status == 0, "\(unload.output)")
            let link = try run(["ip", "-n", pair.namespaceA, "-d", "link", "show", interface])
            #expect(!link.output.contains("xdp"), "\(link.output)")
            #expect(!FileManager.default.fileExists(atPath: XDPPins.directory(for: interface)))
            #expect(XDPDispatcher.dispatcherPins(index).isEmpty)
        }
    }

    @Test("--attach dispatcher: attaches through libxdp, or fails saying why and leaves nothing behind")
    func attachDispatcherOnly() throws {
        try withNamespacePair("atd") { pair in
            let interface = pair.interfaceA
            let index = try pair.inA { try XDPLoader.interfaceIndex(interface) }
            let rootBefore = FileManager.default.fileExists(atPath: XDPDispatcher.pinRoot)
            let load = try run(pair.command([quicxdpBinary, "load", "--dev", interface, "--port", "4433", "--attach", "dispatcher"]))
            if load.status == 0 {
                #expect(load.output.contains("through libxdp's dispatcher"), "\(load.output)")
                #expect(!XDPDispatcher.dispatcherPins(index).isEmpty)
                #expect(try run(pair.command([quicxdpBinary, "unload", "--dev", interface])).status == 0)
            } else {
                #expect(load.output.contains("libxdp") && load.output.contains("--attach direct"), "\(load.output)")
            }
            let link = try run(["ip", "-n", pair.namespaceA, "-d", "link", "show", interface])
            #expect(!link.output.contains("xdp"), "no program may stay attached: \(link.output)")
            #expect(!FileManager.default.fileExists(atPath: XDPPins.directory(for: interface)), "no pins may stay")
            #expect(XDPDispatcher.dispatcherPins(index).isEmpty, "no dispatcher may stay pinned")
            #expect(FileManager.default.fileExists(atPath: XDPDispatcher.pinRoot) == rootBefore)
        }
    }

    @Test("--attach direct does not try libxdp")
    func attachDirectOnly() throws {
        try withNamespacePair("atn") { pair in
            let load = try run(pair.command([quicxdpBinary, "load", "--dev", pair.interfaceA, "--port", "4433", "--attach", "direct"]))
            #expect(load.status == 0 && load.output.contains("attached directly") && !load.output.contains("dispatcher"), "\(load.output)")
            let attachment = try pair.inA { [interface = pair.interfaceA] in try XDPLoader.attachment(interface: interface) }
            #expect(attachment?.method == .direct && attachment?.isQuicXDP == true)
            #expect(try run(pair.command([quicxdpBinary, "unload", "--dev", pair.interfaceA])).status == 0)
        }
    }

    /// `ports[port]` through bpftool (the key is a little-endian u32).
    func portEntry(_ directory: String, _ port: UInt16) throws -> Int? {
        let key = ["0x" + String(port & 0xff, radix: 16), "0x" + String(port >> 8, radix: 16), "0", "0"]
        let result = try run(["bpftool", "-j", "map", "lookup", "pinned", directory + "/ports", "key"] + key)
        let json = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
        return (json?["formatted"] as? [String: Any])?["value"] as? Int
    }

    @Test("skb mode on request")
    func skbMode() throws {
        try withNamespacePair("skb") { pair in
            let load = try run(pair.command([quicxdpBinary, "load", "--dev", pair.interfaceA, "--port", "4433", "--mode", "skb"]))
            #expect(load.status == 0 && load.output.contains("skb mode"), "\(load.output)")
            let link = try run(["ip", "-n", pair.namespaceA, "-d", "link", "show", pair.interfaceA])
            #expect(link.output.contains("xdpgeneric"), "\(link.output)")
            #expect(try run(pair.command([quicxdpBinary, "unload", "--dev", pair.interfaceA])).status == 0)
        }
    }

    @Test("errors name the cause and the fix")
    func errorsNameCauseAndFix() throws {
        try withNamespacePair("err") { pair in
            let missing = try run(pair.command([quicxdpBinary, "load", "--dev", "nosuchif0", "--port", "4433"]))
            #expect(missing.status != 0)
            #expect(missing.output.contains("no such interface 'nosuchif0'") && missing.output.contains("ip link"), "\(missing.output)")

            let notLoaded = try run(pair.command([quicxdpBinary, "stats", "--dev", pair.interfaceA]))
            #expect(notLoaded.status != 0 && notLoaded.output.contains("quicxdp load"), "\(notLoaded.output)")

            // Someone else's program on the interface: load refuses, unload leaves it alone.
            let interface = pair.interfaceA
            try pair.inA {
                let object = try BPFObject(path: bpfObjectPath, pinDirectory: nil, loadBaseline: true)
                let index = try XDPLoader.interfaceIndex(interface)
                let status = bpf_xdp_attach(Int32(index), object.programDescriptor(BPFObject.baselineProgramName)!,
                                            UInt32(XDP_FLAGS_DRV_MODE), nil)
                #expect(status == 0)
            }
            let busy = try run(pair.command([quicxdpBinary, "load", "--dev", interface, "--port", "4433"]))
            #expect(busy.status != 0)
            #expect(busy.output.contains("another XDP program is attached") && busy.output.contains("xdp off"), "\(busy.output)")
            let refuse = try run(pair.command([quicxdpBinary, "unload", "--dev", interface]))
            #expect(refuse.status != 0 && refuse.output.contains("not quicxdp's"), "\(refuse.output)")
        }
    }
}

/// As a non-root user the tool refuses with a message that says to run as root.
@Suite struct NonRootTests {
    @Test("without root, load says it needs root", .disabled(if: isRoot, "runs only as a non-root user"))
    func notRoot() throws {
        let result = try run([quicxdpBinary, "load", "--dev", "lo", "--port", "4433"])
        #expect(result.status != 0 && result.output.contains("root"), "\(result.output)")
    }
}
