/// The main map of a shard's index: 64-bit key hash -> ``IndexEntry``, an open-addressing table.
///
/// Why not `Dictionary`: a dictionary's bucket count is a power of two at most three quarters
/// full, so just past a doubling it is under half full (1M keys over 8 shards used 84 B of heap
/// per key). This table maps a hash to any capacity by multiplying (the high word of
/// `hash × capacity`), grows by half, and stays between 53% and 80% full; it also reads one
/// control byte per probed slot instead of hashing the key again.
///
/// Layout: three parallel arrays of `capacity` slots. `control[i]` is 0 for an empty slot, else
/// `0x80 | (hash & 0x7F)` — a filter that spares most comparisons of full hashes. Collisions
/// are resolved by linear probing (wrapping at the end); removal shifts the following entries
/// back instead of leaving tombstones, so a lookup stops at the first empty slot.
package struct IndexTable: Sequence {
    private var control: [UInt8] = []
    private var hashes: [UInt64] = []
    private var values: [IndexEntry] = []
    package private(set) var count = 0

    /// Filled slots allowed, as a fraction of the capacity: 4/5.
    private static func limit(_ capacity: Int) -> Int { capacity * 4 / 5 }

    package init() {}

    package var isEmpty: Bool { count == 0 }
    package var capacity: Int { control.count }

    @inline(__always)
    private static func tag(_ hash: UInt64) -> UInt8 { 0x80 | UInt8(truncatingIfNeeded: hash & 0x7F) }

    @inline(__always)
    private func home(_ hash: UInt64) -> Int {
        Int(truncatingIfNeeded: hash.multipliedFullWidth(by: UInt64(control.count)).high)
    }

    /// The slot holding `hash`, or nil.
    @inline(__always)
    package func slot(of hash: UInt64) -> Int? {
        let n = control.count
        guard count > 0 else { return nil }
        let t = Self.tag(hash)
        return control.withUnsafeBufferPointer { c in
            var i = home(hash)
            while true {
                let b = c[i]
                if b == 0 { return nil }
                if b == t && hashes[i] == hash { return i }
                i += 1
                if i == n { i = 0 }
            }
        }
    }

    /// The entry in `slot` (a value `slot(of:)` returned, with no change since).
    @inline(__always)
    package func entry(at slot: Int) -> IndexEntry { values[slot] }

    /// Replaces the entry in `slot` (a value `slot(of:)` returned, with no change since).
    @inline(__always)
    package mutating func setEntry(at slot: Int, _ entry: IndexEntry) { values[slot] = entry }

    package subscript(hash: UInt64) -> IndexEntry? {
        get { slot(of: hash).map { values[$0] } }
        set {
            if let newValue { insert(hash, newValue) } else { _ = removeValue(forKey: hash) }
        }
    }

    /// Sets the entry of `hash`, adding it if absent.
    package mutating func insert(_ hash: UInt64, _ entry: IndexEntry) {
        if let i = slot(of: hash) {
            values[i] = entry
            return
        }
        if count + 1 > Self.limit(control.count) { grow(toHold: count + 1) }
        place(hash, entry)
        count += 1
    }

    /// Puts an entry known to be absent into the first empty slot from its home.
    private mutating func place(_ hash: UInt64, _ entry: IndexEntry) {
        let n = control.count
        var i = home(hash)
        while control[i] != 0 {
            i += 1
            if i == n { i = 0 }
        }
        control[i] = Self.tag(hash)
        hashes[i] = hash
        values[i] = entry
    }

    /// Removes the entry of `hash`; returns it if there was one.
    @discardableResult
    package mutating func removeValue(forKey hash: UInt64) -> IndexEntry? {
        guard let found = slot(of: hash) else { return nil }
        let removed = values[found]
        let n = control.count
        // Backward shift: move each following entry of the run into the hole when the hole lies
        // between its home and its slot, so every entry stays reachable from its home.
        var hole = found
        var j = found
        while true {
            j += 1
            if j == n { j = 0 }
            if control[j] == 0 { break }
            let h = home(hashes[j])
            let movable = hole <= j ? (h <= hole || h > j) : (h <= hole && h > j)
            if movable {
                control[hole] = control[j]
                hashes[hole] = hashes[j]
                values[hole] = values[j]
                hole = j
            }
        }
        control[hole] = 0
        count -= 1
        return removed
    }

    /// Makes room for `n` entries without growing again.
    package mutating func reserveCapacity(_ n: Int) {
        guard n > Self.limit(control.count) else { return }
        grow(toHold: n)
    }

    private mutating func grow(toHold n: Int) {
        var capacity = Swift.max(16, control.count + control.count / 2)
        while Self.limit(capacity) < n { capacity += capacity / 2 }
        let oldControl = control, oldHashes = hashes, oldValues = values
        control = Array(repeating: 0, count: capacity)
        hashes = Array(repeating: 0, count: capacity)
        values = Array(repeating: IndexEntry(segment: 0, offset: 0, length: 0, tag: 0, expireTime: 0), count: capacity)
        for i in oldControl.indices where oldControl[i] != 0 { place(oldHashes[i], oldValues[i]) }
    }

    package mutating func removeAll() { self = IndexTable() }

    /// Heap bytes of the three arrays (for memory reports).
    package var allocatedBytes: Int {
        control.count * (1 + MemoryLayout<UInt64>.stride + MemoryLayout<IndexEntry>.stride)
    }

    package struct Iterator: IteratorProtocol {
        let table: IndexTable
        var position = 0
        package mutating func next() -> (hash: UInt64, entry: IndexEntry)? {
            while position < table.control.count {
                let i = position
                position += 1
                if table.control[i] != 0 { return (table.hashes[i], table.values[i]) }
            }
            return nil
        }
    }

    package func makeIterator() -> Iterator { Iterator(table: self) }

    /// The entries, in slot order.
    package var entries: [IndexEntry] { map(\.entry) }
}
