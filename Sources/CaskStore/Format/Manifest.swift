/// The list of a shard's segments in replay order, replaced atomically (temp + fsync + rename +
/// directory fsync) whenever the set changes: a segment roll, a compaction commit, a clear.
///
///     0  8 bytes magic "CASKMAN1"
///     8  u64 version (increases with every replacement)
///     16 u64 next segment id
///     24 u32 segment count n
///     28 u32 reserved (0)
///     32 n x { u64 segment id, u32 flags (bit 0: has hint file), u32 reserved }
///     .. u32 crc32 of all bytes before it
package struct Manifest: Sendable, Equatable {
    package struct Segment: Sendable, Equatable {
        package var id: UInt32
        package var hasHint: Bool
        package init(id: UInt32, hasHint: Bool) {
            self.id = id
            self.hasHint = hasHint
        }
    }

    package var version: UInt64
    package var nextSegmentID: UInt32
    package var segments: [Segment]

    package init(version: UInt64, nextSegmentID: UInt32, segments: [Segment]) {
        self.version = version
        self.nextSegmentID = nextSegmentID
        self.segments = segments
    }

    static let magic: StaticString = "CASKMAN1"
    static let maxSegments = 1 << 20

    package func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 36 + segments.count * 16)
        w.ascii(Manifest.magic)
        w.u64(version)
        w.u64(UInt64(nextSegmentID))
        w.u32(UInt32(segments.count))
        w.u32(0)
        for s in segments {
            w.u64(UInt64(s.id))
            w.u32(s.hasHint ? 1 : 0)
            w.u32(0)
        }
        w.sealWithCRC()
        return w.bytes
    }

    package static func decode(_ bytes: [UInt8], path: String) throws -> Manifest {
        try ByteReader.verifyTrailingCRC(bytes, path: path)
        var r = ByteReader(bytes, path: path)
        guard Array(try r.bytes(8)) == Array("CASKMAN1".utf8) else {
            throw CaskError(.corrupted, "not a segment manifest", path: path)
        }
        let version = try r.u64()
        let next = try r.u64()
        let count = Int(try r.u32())
        _ = try r.u32()
        guard count <= maxSegments, next <= UInt64(UInt32.max), r.remaining == count * 16 + 4 else {
            throw CaskError(.corrupted, "manifest has impossible counts", path: path)
        }
        var segments: [Segment] = []
        segments.reserveCapacity(count)
        for _ in 0..<count {
            let id = try r.u64()
            let flags = try r.u32()
            _ = try r.u32()
            guard id < next else { throw CaskError(.corrupted, "manifest names an unallocated segment", path: path) }
            segments.append(Segment(id: UInt32(id), hasHint: flags & 1 != 0))
        }
        return Manifest(version: version, nextSegmentID: UInt32(next), segments: segments)
    }
}
