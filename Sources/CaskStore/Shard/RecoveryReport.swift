/// Damage found and repaired while loading, for reporting.
public struct RecoveryReport: Sendable, Equatable {
    /// Bytes cut from the end of logs (a torn final write).
    public var truncatedBytes = 0
    /// Byte ranges skipped in the middle of logs because they hold no valid record.
    public var corruptRanges: [CorruptRange] = []
    /// Reports of damage made once `corruptRanges` held `maxListedRanges` ranges: counted, not
    /// listed (nor deduplicated: a damaged record beyond the list counts again each time it is read).
    public var unlistedCorruptRanges = 0
    /// The most ranges `corruptRanges` lists. Each range is listed once, however often it is read.
    public static let maxListedRanges = 1000
    /// Hint files that failed validation (the segment was scanned instead).
    public var rejectedHints = 0
    /// Records read by scanning (not from hint files).
    public var scannedRecords = 0

    /// A damaged byte range of a segment.
    public struct CorruptRange: Sendable, Equatable, CustomStringConvertible {
        /// The shard.
        public var shard: Int
        /// The segment id.
        public var segment: UInt32
        /// Where the damage starts.
        public var offset: Int
        /// How many bytes are damaged.
        public var length: Int
        /// "shard S segment G bytes A..<B".
        public var description: String { "shard \(shard) segment \(segment) bytes \(offset)..<\(offset + length)" }
    }

    /// True when nothing was repaired or skipped.
    public var isClean: Bool { truncatedBytes == 0 && corruptRanges.isEmpty && unlistedCorruptRanges == 0 && rejectedHints == 0 }

    /// Records a damaged range: once per shard, segment and offset, up to `maxListedRanges`.
    mutating func noteCorrupt(_ range: CorruptRange) {
        if corruptRanges.contains(where: { $0.offset == range.offset && $0.segment == range.segment && $0.shard == range.shard }) {
            return
        }
        if corruptRanges.count < RecoveryReport.maxListedRanges {
            corruptRanges.append(range)
        } else {
            unlistedCorruptRanges += 1
        }
    }

    mutating func merge(_ other: RecoveryReport) {
        truncatedBytes += other.truncatedBytes
        for range in other.corruptRanges { noteCorrupt(range) }
        unlistedCorruptRanges += other.unlistedCorruptRanges
        rejectedHints += other.rejectedHints
        scannedRecords += other.scannedRecords
    }
}
