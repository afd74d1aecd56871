/// Entry points into engine internals for the micro-benchmarks in `Benchmarks/`, which live in a
/// separate package and therefore cannot see `package` declarations.
///
/// Not API: the names and shapes change whenever the internals do.
public enum _Benchmarking {
    /// The on-disk length of a put record with these lengths.
    public static func recordLength(key: Int, value: Int) -> Int {
        RecordHeader.length(key: key, tag: 0, value: value)
    }

    /// Encodes a put record into `out` (which must hold `recordLength(...)` bytes); returns its length.
    public static func encodeRecord(into out: UnsafeMutableRawBufferPointer, key: UnsafeRawBufferPointer,
                                    value: UnsafeRawBufferPointer, sequence: UInt64) -> Int {
        precondition(out.count >= recordLength(key: key.count, value: value.count))
        return RecordCodec.encode(into: out.baseAddress!, kind: .put, flags: [], sequence: sequence, storeTime: 0,
                                  expireTime: 0, key: key, tag: UnsafeRawBufferPointer(start: nil, count: 0),
                                  value: value)
    }

    /// Validates the record at the start of `bytes` (lengths, CRC); returns its value length, or nil.
    public static func decodeRecord(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard let base = bytes.baseAddress,
              case .valid(let h) = RecordCodec.parse(base, available: bytes.count) else { return nil }
        return h.valueLength
    }

    /// The CRC-32 the engine puts in records, manifests and hints.
    public static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 { Checksum.crc32(bytes) }

    /// The engine's fixed-seed key hash.
    public static func keyHash(_ bytes: UnsafeRawBufferPointer) -> UInt64 { KeyHash.hash(bytes) }

    /// A shard's in-memory index on its own, keyed by hash only (no records behind it, so every
    /// entry "matches").
    public struct KeyIndex {
        var directory = KeyDirectory()

        public init(reserving n: Int = 0) { directory.reserve(n) }

        public var count: Int { directory.count }

        public mutating func insert(hash: UInt64, offset: UInt32) {
            let entry = IndexEntry(segment: 1, offset: offset, length: 100, tag: 0, expireTime: 0)
            directory.set(hash: hash, key: UnsafeRawBufferPointer(start: nil, count: 0), entry: entry, matches: { _ in true })
        }

        /// The offset stored for `hash`, or nil.
        public func lookup(hash: UInt64) -> UInt32? {
            directory.find(hash: hash, key: UnsafeRawBufferPointer(start: nil, count: 0), matches: { _ in true })?.offset
        }
    }
}
