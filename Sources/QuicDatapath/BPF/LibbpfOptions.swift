/// Calls `body` with a libbpf options struct in memory that is zero in every byte, padding
/// included, with its `sz` field set. libbpf checks that the bytes past the fields it knows are
/// zero ("has non-zero extra bytes", libbpf_validate_opts). A Swift value of the struct cannot
/// promise that: its zero initializer and every copy leave padding undefined (zero in debug
/// builds by luck, garbage in release). So the options never leave this memory: fields are set
/// through the pointer, which stores only the field.
@inline(__always)
func withLibbpfOptions<Options, Result, Failure: Error>(
    _ type: Options.Type, sizeField: WritableKeyPath<Options, Int>,
    _ body: (UnsafeMutablePointer<Options>) throws(Failure) -> Result
) throws(Failure) -> Result {
    let pointer = UnsafeMutablePointer<Options>.allocate(capacity: 1)
    defer { pointer.deallocate() }
    UnsafeMutableRawPointer(pointer).initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<Options>.stride)
    pointer.pointee[keyPath: sizeField] = MemoryLayout<Options>.size
    return try body(pointer)
}
