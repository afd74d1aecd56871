/// Where a key's current record is, and the metadata needed without touching the disk.
/// 32 bytes; the key itself is not kept in memory (see ``KeyDirectory``).
package struct IndexEntry: Sendable, Equatable {
    package var segment: UInt32
    package var offset: UInt32
    /// Length of the whole record in the log.
    package var length: UInt32
    /// Interned tag id within the shard (0: no tag).
    package var tag: UInt32
    /// Expire time in microseconds since the Unix epoch; 0 means never.
    package var expireTime: Int64
    /// Access information for eviction (a referenced bit, or a logarithmic use counter), kept
    /// only in memory: reads never write to disk.
    package var access: UInt16
    /// The record's flags (so value-file entries are known without reading the record).
    package var flags: UInt8

    package init(segment: UInt32, offset: UInt32, length: UInt32, tag: UInt32, expireTime: Int64, access: UInt16 = 0, flags: UInt8 = 0) {
        self.segment = segment
        self.offset = offset
        self.length = length
        self.tag = tag
        self.expireTime = expireTime
        self.access = access
        self.flags = flags
    }

    package var position: LogPosition { LogPosition(segment: segment, offset: offset) }

    @inline(__always) package func isExpired(at now: Int64) -> Bool { expireTime != 0 && expireTime <= now }
}

/// The in-memory index of one shard: key hash -> ``IndexEntry``.
///
/// Keys are identified by their fixed-seed 64-bit hash, so the index holds no key bytes. Every
/// lookup is confirmed by comparing the key stored in the record, so a hash collision can never
/// return another key's value. When two live keys do share a hash, the later one is kept in the
/// small `collided` map, keyed by its bytes.
package struct KeyDirectory {
    package private(set) var entries: [UInt64: IndexEntry] = [:]
    package private(set) var collided: [[UInt8]: IndexEntry] = [:]
    /// Sum of the record lengths of all live entries.
    package private(set) var liveBytes = 0
    /// Tag id -> hashes of the entries with that tag (only when the tag index is enabled).
    package private(set) var tagIndex: [UInt32: Set<UInt64>]?

    package init(tagIndex: Bool = false) {
        self.tagIndex = tagIndex ? [:] : nil
    }

    /// Entries that have an expire time (0 means the writer's expiry sweep can be skipped).
    package private(set) var expiringCount = 0

    /// Bookkeeping for an entry replaced (`old`), added (`new`) or removed.
    @inline(__always)
    private mutating func noteChange(_ hash: UInt64, old: IndexEntry?, new: IndexEntry?) {
        if old?.expireTime ?? 0 != 0 { expiringCount -= 1 }
        if new?.expireTime ?? 0 != 0 { expiringCount += 1 }
        if tagIndex != nil { indexTag(hash, old: old, new: new) }
    }

    private mutating func indexTag(_ hash: UInt64, old: IndexEntry?, new: IndexEntry?) {
        guard tagIndex != nil, old?.tag != new?.tag || old == nil || new == nil else { return }
        if let t = old?.tag, t != 0 {
            tagIndex![t]?.remove(hash)
            if tagIndex![t]?.isEmpty == true { tagIndex![t] = nil }
        }
        if let t = new?.tag, t != 0 { tagIndex![t, default: []].insert(hash) }
    }

    package var count: Int { entries.count + collided.count }

    package mutating func reserve(_ n: Int) { entries.reserveCapacity(n) }

    /// Finds the entry for `key`. `matches` tells whether an entry's record holds `key`.
    @inline(__always)
    package func find(hash: UInt64, key: UnsafeRawBufferPointer, matches: (IndexEntry) -> Bool) -> IndexEntry? {
        if !collided.isEmpty, let e = collided[Array(key)] { return e }
        guard let e = entries[hash], matches(e) else { return nil }
        return e
    }

    /// Sets the entry for `key`. Returns the entry it replaced, if any.
    @discardableResult
    package mutating func set(hash: UInt64, key: UnsafeRawBufferPointer, entry: IndexEntry, matches: (IndexEntry) -> Bool) -> IndexEntry? {
        if !collided.isEmpty {
            let k = Array(key)
            if let old = collided.updateValue(entry, forKey: k) {
                liveBytes += Int(entry.length) - Int(old.length)
                noteChange(hash, old: old, new: entry)
                return old
            }
        }
        if let old = entries[hash] {
            if matches(old) {
                entries[hash] = entry
                liveBytes += Int(entry.length) - Int(old.length)
                noteChange(hash, old: old, new: entry)
                return old
            }
            collided[Array(key)] = entry
        } else {
            entries[hash] = entry
        }
        liveBytes += Int(entry.length)
        noteChange(hash, old: nil, new: entry)
        return nil
    }

    /// Replaces an entry in place when only its metadata changes (touch, access info). The tag
    /// and length must not change.
    package mutating func update(hash: UInt64, key: UnsafeRawBufferPointer, matches: (IndexEntry) -> Bool, _ body: (inout IndexEntry) -> Void) -> Bool {
        if !collided.isEmpty {
            let k = Array(key)
            if var e = collided[k] {
                let hadExpiry = e.expireTime != 0
                body(&e)
                collided[k] = e
                expiringCount += (e.expireTime != 0 ? 1 : 0) - (hadExpiry ? 1 : 0)
                return true
            }
        }
        guard var e = entries[hash], matches(e) else { return false }
        let hadExpiry = e.expireTime != 0
        body(&e)
        entries[hash] = e
        expiringCount += (e.expireTime != 0 ? 1 : 0) - (hadExpiry ? 1 : 0)
        return true
    }

    /// Removes the entry for `key`; returns it if there was one.
    @discardableResult
    package mutating func remove(hash: UInt64, key: UnsafeRawBufferPointer, matches: (IndexEntry) -> Bool) -> IndexEntry? {
        if !collided.isEmpty, let old = collided.removeValue(forKey: Array(key)) {
            liveBytes -= Int(old.length)
            noteChange(hash, old: old, new: nil)
            return old
        }
        guard let old = entries[hash], matches(old) else { return nil }
        entries.removeValue(forKey: hash)
        liveBytes -= Int(old.length)
        noteChange(hash, old: old, new: nil)
        return old
    }

    /// Inserts an entry known not to be present under another key's bytes (hint loading).
    /// `keyOf` reads the key of an entry from its record when two entries share a hash.
    @discardableResult
    package mutating func insertLoaded(hash: UInt64, entry: IndexEntry, keyOf: (IndexEntry) -> [UInt8]) -> IndexEntry? {
        if let old = entries[hash] {
            let newKey = keyOf(entry)
            if keyOf(old) == newKey {
                entries[hash] = entry
                liveBytes += Int(entry.length) - Int(old.length)
                noteChange(hash, old: old, new: entry)
                return old
            }
            let prior = collided.updateValue(entry, forKey: newKey)
            if let prior { liveBytes -= Int(prior.length) }
            liveBytes += Int(entry.length)
            noteChange(hash, old: prior, new: entry)
            return prior
        }
        entries[hash] = entry
        liveBytes += Int(entry.length)
        noteChange(hash, old: nil, new: entry)
        return nil
    }

    /// Calls `body` with every entry (hash is nil for collided entries, which carry their key).
    package func forEach(_ body: (UInt64?, [UInt8]?, IndexEntry) throws -> Void) rethrows {
        for (h, e) in entries { try body(h, nil, e) }
        for (k, e) in collided { try body(nil, k, e) }
    }

    /// Moves the entry of the record at `old` (found by its key hash) to `segment`/`offset`, if the
    /// index still points at that record. Compaction relocation: the position identifies the record.
    package mutating func relocate(hash: UInt64, from old: LogPosition, segment: UInt32, offset: UInt32) {
        if var e = entries[hash], e.position == old {
            e.segment = segment
            e.offset = offset
            entries[hash] = e
            return
        }
        guard !collided.isEmpty, let k = collided.first(where: { $0.value.position == old })?.key else { return }
        collided[k]!.segment = segment
        collided[k]!.offset = offset
    }

    /// Removes the entry of the record at `position`, if the index still points at it.
    @discardableResult
    package mutating func remove(hash: UInt64, at position: LogPosition) -> IndexEntry? {
        if let e = entries[hash], e.position == position {
            entries.removeValue(forKey: hash)
            liveBytes -= Int(e.length)
            noteChange(hash, old: e, new: nil)
            return e
        }
        guard !collided.isEmpty, let k = collided.first(where: { $0.value.position == position })?.key else { return nil }
        let e = collided.removeValue(forKey: k)!
        liveBytes -= Int(e.length)
        noteChange(hash, old: e, new: nil)
        return e
    }

    /// The entry stored under `hash` in the main map, if any (eviction walks, tag eviction).
    package func entry(hash: UInt64) -> IndexEntry? { entries[hash] }

    /// Sets the access information of the main-map entry under `hash`.
    @inline(__always)
    package mutating func setAccess(hash: UInt64, _ body: (inout UInt16) -> Void) {
        if entries[hash] != nil { body(&entries[hash]!.access) }
    }

    package mutating func removeAll() {
        entries = [:]
        collided = [:]
        liveBytes = 0
        expiringCount = 0
        if tagIndex != nil { tagIndex = [:] }
    }

    /// Verifies the bookkeeping (tests call this after every step of randomized sequences).
    package func checkInvariants() -> String? {
        var sum = 0
        for e in entries.values { sum += Int(e.length) }
        for e in collided.values { sum += Int(e.length) }
        if sum != liveBytes { return "liveBytes \(liveBytes) != sum of entry lengths \(sum)" }
        let expiring = entries.values.filter { $0.expireTime != 0 }.count + collided.values.filter { $0.expireTime != 0 }.count
        if expiring != expiringCount { return "expiringCount \(expiringCount) != \(expiring) entries with an expiry" }
        for e in Array(entries.values) + Array(collided.values) where Int(e.length) < RecordHeader.size {
            return "entry shorter than a record header: \(e)"
        }
        if let tagIndex {
            for (h, e) in entries where e.tag != 0 && tagIndex[e.tag]?.contains(h) != true {
                return "tagged entry missing from the tag index"
            }
            for (t, hashes) in tagIndex {
                for h in hashes where entries[h]?.tag != t && !collided.values.contains(where: { $0.tag == t }) {
                    return "tag index names an entry without that tag"
                }
            }
        }
        return nil
    }
}

/// Interned tags of one shard: entries store a small id instead of the tag bytes.
package struct TagTable {
    private var ids: [[UInt8]: UInt32] = [:]
    private(set) var names: [[UInt8]] = [[]]

    package mutating func intern(_ tag: UnsafeRawBufferPointer) -> UInt32 {
        if tag.count == 0 { return 0 }
        let bytes = Array(tag)
        if let id = ids[bytes] { return id }
        let id = UInt32(names.count)
        names.append(bytes)
        ids[bytes] = id
        return id
    }

    package func id(of tag: [UInt8]) -> UInt32? { tag.isEmpty ? 0 : ids[tag] }
}
