/// The bits of `IndexEntry.access`, per policy. Bit 15 (`main`) is the scan-resistant policy's
/// "promoted" mark; the other policies leave it clear. Kept in memory only.
enum AccessBits {
    /// Scan-resistant: the entry has left probation (read while on probation, or re-admitted
    /// from the ghost list).
    static let main: UInt16 = 0x8000
    /// Scan-resistant: reads since the walk last passed, up to 3.
    static let frequencyMask: UInt16 = 0x0003
}

/// Keys recently evicted from probation (hashes only), first in first out, at most `capacity`
/// of them: a key stored again while listed skips probation. Per shard and per process.
struct GhostKeys {
    private var ring: [UInt64] = []
    private var head = 0
    private var members: [UInt64: Int] = [:]

    var count: Int { members.count }
    var isEmpty: Bool { members.isEmpty }

    /// Lists `hash`, dropping the oldest entries beyond `capacity`.
    mutating func insert(_ hash: UInt64, capacity: Int) {
        ring.append(hash)
        members[hash, default: 0] += 1
        while ring.count - head > max(1, capacity) {
            let old = ring[head]
            head += 1
            if let n = members[old] { members[old] = n > 1 ? n - 1 : nil }
        }
        if head > 4096 && head * 2 > ring.count {
            ring.removeFirst(head)
            head = 0
        }
    }

    /// True if `hash` was listed; unlists it.
    mutating func remove(_ hash: UInt64) -> Bool {
        guard members[hash] != nil else { return false }
        // Its ring slots stay; they unlist nothing when they age out (the count says so).
        members[hash] = nil
        return true
    }

    mutating func removeAll() {
        ring = []
        head = 0
        members = [:]
    }
}

/// One step of an eviction walk.
enum WalkStep {
    /// A put record that is the current record of its key.
    case current(hash: UInt64, key: UnsafeRawBufferPointer, entry: IndexEntry)
    /// Any other record (overwritten, tombstone, damage skipped).
    case other
    /// The hand went back to the start of the log (end of a lap).
    case wrapped
}

extension ShardState {
    /// Where segment `id` is in log order, if it is live.
    func segmentIndex(_ id: UInt32) -> Int? { manifest.segments.firstIndex(where: { $0.id == id }) }

    /// True when `a` is at or past `b` in log order (false if `b`'s segment is gone).
    func isAtOrPast(_ a: LogPosition, _ b: LogPosition) -> Bool {
        guard let ia = segmentIndex(a.segment), let ib = segmentIndex(b.segment) else { return false }
        return ia != ib ? ia > ib : a.offset >= b.offset
    }

    var logStart: LogPosition { LogPosition(segment: manifest.segments[0].id, offset: 0) }
}

extension Shard {
    /// Moves `hand` over one record of the log. With `lapEnd`, the hand goes back to the start on
    /// reaching it (and `lapEnd` becomes the end of the log), so records appended during a lap
    /// wait for the next one: a new entry is examined only after the entries stored before it.
    func walkStep(_ s: inout ShardState, _ hand: inout LogPosition, lapEnd: UnsafeMutablePointer<LogPosition>?) throws -> WalkStep {
        func wrap() -> WalkStep {
            hand = s.logStart
            lapEnd?.pointee = s.applied
            return .wrapped
        }
        guard let index = s.segmentIndex(hand.segment), let seg = s.segment(hand.segment) else { return wrap() }
        if let lapEnd, s.isAtOrPast(hand, lapEnd.pointee) || s.segmentIndex(lapEnd.pointee.segment) == nil { return wrap() }
        let length = s.segmentLengths[seg.id] ?? 0
        if Int(hand.offset) >= length {
            guard index + 1 < s.manifest.segments.count else { return wrap() }
            hand = LogPosition(segment: s.manifest.segments[index + 1].id, offset: 0)
            return .other
        }
        try seg.ensureMapped(length)
        let p = seg.bytes(at: Int(hand.offset))
        // The walk only needs the header; values are CRC-checked when they are read.
        guard let h = RecordCodec.plausibleHeader(p, available: length - Int(hand.offset)) else {
            // Damage (reported at load): continue after it.
            let next = Shard.resync(seg.bytes(at: 0), from: Int(hand.offset) + 1, to: length, after: 0) ?? length
            hand.offset = UInt32(next)
            return .other
        }
        let here = hand
        hand.offset += UInt32(h.length)
        guard h.kind == .put else { return .other }
        let key = UnsafeRawBufferPointer(start: p + RecordHeader.size, count: h.keyLength)
        let hash = KeyHash.hash(key)
        let view = s.view
        guard let e = s.directory.find(hash: hash, key: key, matches: { view.keyMatches($0, key) }),
              e.position == here else { return .other }
        return .current(hash: hash, key: key, entry: e)
    }
}
