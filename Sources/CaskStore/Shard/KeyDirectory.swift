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
    /// Whether this handle has checked the record's CRC (in memory only, and not part of `==`):
    /// with `StoreOptions.checkRecordsOnce`, reads skip the check then. Fits in the entry's
    /// padding: the stride stays 32 bytes.
    package var checked = false

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

    /// Equal when they describe the same record the same way; whether either was checked is not
    /// part of that.
    package static func == (a: IndexEntry, b: IndexEntry) -> Bool {
        a.segment == b.segment && a.offset == b.offset && a.length == b.length && a.tag == b.tag
            && a.expireTime == b.expireTime && a.access == b.access && a.flags == b.flags
    }

    /// Whether the entry has expired at `now` (µs since the epoch); nil reads the wall clock, only
    /// when the entry can expire.
    @inline(__always) package func isExpired(at now: Int64?) -> Bool {
        expireTime != 0 && expireTime <= (now ?? wallClockMicros())
    }
}

/// The in-memory index of one shard: key hash -> ``IndexEntry``.
///
/// Keys are identified by their fixed-seed 64-bit hash, so the index holds no key bytes. Every
/// lookup is confirmed by comparing the key stored in the record, so a hash collision can never
/// return another key's value. When two live keys do share a hash, the later one is kept in the
/// small `collided` map, keyed by its bytes.
package struct KeyDirectory {
    package private(set) var entries = IndexTable()
    package private(set) var collided: [[UInt8]: IndexEntry] = [:]
    /// Sum of the record lengths of all live entries.
    package private(set) var liveBytes = 0
    /// Sum of the record lengths of the live entries without the `AccessBits.main` bit: under
    /// the scan-resistant policy, the entries still on probation.
    package private(set) var probationBytes = 0
    /// Tag id -> hashes of the entries with that tag (only when the tag index is enabled).
    package private(set) var tagIndex: [UInt32: Set<UInt64>]?

    /// The tags of the live entries, with their use counts.
    package private(set) var tags = TagTable()

    package init(tagIndex: Bool = false) {
        self.tagIndex = tagIndex ? [:] : nil
    }

    /// The id for `tag` in this directory (0: no tag), for an entry about to be set.
    @inline(__always)
    package mutating func internTag(_ tag: UnsafeRawBufferPointer) -> UInt32 {
        tag.count == 0 ? 0 : tags.intern(tag)
    }

    /// Starts a rebuild of this (empty) directory that keeps the tag ids of `previous`.
    mutating func inheritTags(of previous: KeyDirectory) { tags = previous.tags.withoutUses() }

    /// Ends such a rebuild: forgets the inherited tags no entry uses.
    mutating func dropUnusedTags() { tags.dropUnused() }

    /// Entries that have an expire time (0 means the writer's expiry sweep can be skipped).
    package private(set) var expiringCount = 0

    /// Bookkeeping for an entry replaced (`old`), added (`new`) or removed.
    @inline(__always)
    private mutating func noteChange(_ hash: UInt64, old: IndexEntry?, new: IndexEntry?) {
        if let old, old.access & AccessBits.main == 0 { probationBytes -= Int(old.length) }
        if let new, new.access & AccessBits.main == 0 { probationBytes += Int(new.length) }
        if old?.expireTime ?? 0 != 0 { expiringCount -= 1 }
        if new?.expireTime ?? 0 != 0 { expiringCount += 1 }
        let oldTag = old?.tag ?? 0, newTag = new?.tag ?? 0
        if oldTag != newTag {
            // The new use first, so a tag moving between entries is never dropped in between.
            if newTag != 0 { tags.retain(newTag) }
            if oldTag != 0 { tags.release(oldTag) }
        }
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
        findSlot(hash: hash, key: key, matches: matches)?.entry
    }

    /// ``find(hash:key:matches:)`` that also gives the entry's slot in the main table (nil for the
    /// entry of a key whose hash collided), for a reader that then updates the entry in place.
    @inline(__always)
    package func findSlot(hash: UInt64, key: UnsafeRawBufferPointer,
                          matches: (IndexEntry) -> Bool) -> (entry: IndexEntry, slot: Int?)? {
        if !collided.isEmpty, let e = collided[Array(key)] { return (e, nil) }
        guard let i = entries.slot(of: hash) else { return nil }
        let e = entries.entry(at: i)
        guard matches(e) else { return nil }
        return (e, i)
    }

    /// Marks the entry in `slot` (from ``findSlot(hash:key:matches:)``, no change since) as
    /// checked.
    @inline(__always)
    package mutating func markChecked(slot: Int) {
        var e = entries.entry(at: slot)
        e.checked = true
        entries.setEntry(at: slot, e)
    }

    /// Sets the entry for `key`. Returns the entry it replaced, if any. With `keepingAccess`, a
    /// replaced entry's access information passes to the new one (one lookup, not two).
    @discardableResult
    package mutating func set(hash: UInt64, key: UnsafeRawBufferPointer, entry: IndexEntry, keepingAccess: Bool = false,
                              matches: (IndexEntry) -> Bool) -> IndexEntry? {
        var entry = entry
        if !collided.isEmpty {
            let k = Array(key)
            if keepingAccess, let old = collided[k] { entry.access = old.access }
            if let old = collided.updateValue(entry, forKey: k) {
                liveBytes += Int(entry.length) - Int(old.length)
                noteChange(hash, old: old, new: entry)
                return old
            }
        }
        if let old = entries[hash] {
            if matches(old) {
                if keepingAccess { entry.access = old.access }
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
                let before = e
                body(&e)
                collided[k] = e
                noteMetadata(before, e)
                return true
            }
        }
        guard var e = entries[hash], matches(e) else { return false }
        let before = e
        body(&e)
        entries[hash] = e
        noteMetadata(before, e)
        return true
    }

    /// Bookkeeping for an entry whose expiry or access information changed in place.
    @inline(__always)
    private mutating func noteMetadata(_ before: IndexEntry, _ after: IndexEntry) {
        expiringCount += (after.expireTime != 0 ? 1 : 0) - (before.expireTime != 0 ? 1 : 0)
        let wasProbation = before.access & AccessBits.main == 0, isProbation = after.access & AccessBits.main == 0
        if wasProbation != isProbation { probationBytes += isProbation ? Int(after.length) : -Int(after.length) }
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
            e.checked = false
            entries[hash] = e
            return
        }
        guard !collided.isEmpty, let k = collided.first(where: { $0.value.position == old })?.key else { return }
        collided[k]!.segment = segment
        collided[k]!.offset = offset
        collided[k]!.checked = false
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

    /// The main-table slot of the entry under `hash`, if that entry is the record at `position`
    /// (not when the record is a collided key's, kept outside the main table).
    @inline(__always)
    package func slot(hash: UInt64, holding position: LogPosition) -> Int? {
        guard let i = entries.slot(of: hash), entries.entry(at: i).position == position else { return nil }
        return i
    }

    /// The entry stored under `hash` in the main map, if any (eviction walks, tag eviction).
    package func entry(hash: UInt64) -> IndexEntry? { entries[hash] }

    /// Sets the access information of the main-map entry under `hash`.
    @inline(__always)
    package mutating func setAccess(hash: UInt64, _ body: (inout UInt16) -> Void) {
        guard let i = entries.slot(of: hash) else { return }
        setAccess(slot: i, body)
    }

    /// ``setAccess(hash:_:)`` for the entry in `slot` (from ``findSlot(hash:key:matches:)``, no
    /// change since).
    @inline(__always)
    package mutating func setAccess(slot i: Int, _ body: (inout UInt16) -> Void) {
        var e = entries.entry(at: i)
        let before = e.access
        body(&e.access)
        guard e.access != before else { return }
        entries.setEntry(at: i, e)
        let access = e.access
        if (access ^ before) & AccessBits.main != 0 {
            probationBytes += access & AccessBits.main == 0 ? Int(e.length) : -Int(e.length)
        }
    }

    package mutating func removeAll() {
        entries = IndexTable()
        collided = [:]
        liveBytes = 0
        probationBytes = 0
        expiringCount = 0
        tags.removeAll()
        if tagIndex != nil { tagIndex = [:] }
    }

    /// Verifies the bookkeeping (tests call this after every step of randomized sequences).
    package func checkInvariants() -> String? {
        var sum = 0
        for e in entries.entries { sum += Int(e.length) }
        for e in collided.values { sum += Int(e.length) }
        if sum != liveBytes { return "liveBytes \(liveBytes) != sum of entry lengths \(sum)" }
        let probation = (Array(entries.entries) + Array(collided.values)).filter { $0.access & AccessBits.main == 0 }
            .reduce(0) { $0 + Int($1.length) }
        if probation != probationBytes { return "probationBytes \(probationBytes) != sum of probation entry lengths \(probation)" }
        let expiring = entries.entries.filter { $0.expireTime != 0 }.count + collided.values.filter { $0.expireTime != 0 }.count
        if expiring != expiringCount { return "expiringCount \(expiringCount) != \(expiring) entries with an expiry" }
        for e in Array(entries.entries) + Array(collided.values) where Int(e.length) < RecordHeader.size {
            return "entry shorter than a record header: \(e)"
        }
        var uses: [UInt32: Int] = [:]
        for e in Array(entries.entries) + Array(collided.values) where e.tag != 0 { uses[e.tag, default: 0] += 1 }
        if !tags.hasUses(uses) { return "tag table holds other tags or counts than the entries use" }
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

/// Interned tags of one shard: entries store a small id instead of the tag bytes. A tag is held
/// only while a live entry uses it (the directory counts uses), so the table never outgrows the
/// tags in use. Ids are not reused (until 2^32 have been handed out, and then never one in use):
/// an id looked up earlier names its tag or nothing, not another tag.
package struct TagTable {
    private var ids: [[UInt8]: UInt32] = [:]
    private var tags: [UInt32: (name: [UInt8], uses: Int)] = [:]
    private var nextID: UInt32 = 1

    /// The id of `tag` (0 for no tag), adding it with no uses if new: the caller is about to set an
    /// entry with it, which counts the use.
    package mutating func intern(_ tag: UnsafeRawBufferPointer) -> UInt32 {
        if tag.count == 0 { return 0 }
        let bytes = Array(tag)
        if let id = ids[bytes] { return id }
        while tags[nextID] != nil { nextID = nextID == UInt32.max ? 1 : nextID + 1 }
        let id = nextID
        nextID = nextID == UInt32.max ? 1 : nextID + 1
        tags[id] = (bytes, 0)
        ids[bytes] = id
        return id
    }

    package func id(of tag: [UInt8]) -> UInt32? { tag.isEmpty ? 0 : ids[tag] }

    /// Distinct tags held.
    package var count: Int { ids.count }

    /// True when the table holds exactly the tags in `uses`, with these use counts.
    func hasUses(_ uses: [UInt32: Int]) -> Bool {
        tags.count == uses.count && ids.count == uses.count && tags.allSatisfy { uses[$0.key] == $0.value.uses }
    }

    mutating func retain(_ id: UInt32) { tags[id]?.uses += 1 }

    mutating func release(_ id: UInt32) {
        guard let t = tags[id] else { return }
        if t.uses > 1 {
            tags[id]!.uses = t.uses - 1
        } else {
            tags[id] = nil
            ids[t.name] = nil
        }
    }

    /// The same tags and ids with no uses (an index rebuild counts them again, keeping the ids of
    /// tags still in use); `dropUnused` then forgets the rest.
    func withoutUses() -> TagTable {
        var copy = self
        for id in copy.tags.keys { copy.tags[id]!.uses = 0 }
        return copy
    }

    mutating func dropUnused() {
        for (id, t) in tags where t.uses == 0 {
            tags[id] = nil
            ids[t.name] = nil
        }
    }

    /// No tags; ids continue after the ones handed out.
    mutating func removeAll() {
        ids = [:]
        tags = [:]
    }
}
