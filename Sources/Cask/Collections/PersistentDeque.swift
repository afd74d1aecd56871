import CaskStore

/// A double-ended queue kept in a cache directory and shared by every thread and process that opens
/// it (diskcache's `Deque`).
///
/// ```swift
/// let jobs = try PersistentDeque<Job>(directory: "/var/tmp/jobs", maxLength: 10_000)
/// try jobs.append(job)
/// while let next = try jobs.popFirst() { try run(next) }
/// ```
///
/// Items are records `"<name>-<15 digits>"` numbered from a head/tail record (the cache's queue
/// layout, as ``Cache/push(_:prefix:side:expire:tag:)``); every change happens inside
/// ``Cache/transact(_:)``, so concurrent appends and pops from several processes neither lose nor
/// duplicate items. A deque on its own directory opens its cache with eviction off; inside another
/// cache, items are subject to that cache's eviction (use the ``EvictionPolicy`` `.none` there too).
///
/// - Complexity: append, prepend, pops, first, last and count are O(1); iteration is O(n).
public struct PersistentDeque<Element: Codable & Sendable>: Sendable {
    /// The cache holding the items.
    public let cache: Cache
    /// The queue's name: the prefix of its keys.
    public let name: String
    /// Most items kept: appending to a full deque drops the first item, prepending the last.
    public let maxLength: Int?

    /// Opens (creating if needed) a deque on its own directory, with eviction off.
    public init(directory: String, maxLength: Int? = nil, clock: any CacheClock = SystemClock()) throws {
        let cache = try Cache(directory: directory, settings: CacheSettings(evictionPolicy: EvictionPolicy.none), clock: clock)
        try self.init(cache: cache, name: "deque", maxLength: maxLength)
    }

    /// A deque named `name` inside `cache`.
    public init(cache: Cache, name: String, maxLength: Int? = nil) throws {
        if let maxLength, maxLength < 0 { throw CaskError(.invalidArgument, "maxLength must not be negative") }
        self.cache = cache
        self.name = name
        self.maxLength = maxLength
    }

    /// Adds `element` at the back.
    public func append(_ element: Element) throws { try insert(element, side: .back) }

    /// Adds `element` at the front.
    public func prepend(_ element: Element) throws { try insert(element, side: .front) }

    func insert(_ element: Element, side: QueueSide) throws {
        if maxLength == 0 { return }
        let (encoding, bytes) = try ValueCodec.encode(element, coder: cache.coder)
        let prepared = try cache.prepare(encoding, bytes)
        defer { prepared.file?.discard() }
        try cache.transact { tx in
                var (head, tail) = try tx.queueBounds(name)
                let number: Int64
                switch side {
                case .back: number = tail; tail += 1
                case .front: head -= 1; number = head
                }
                try tx.putPrepared(Cache.queueKey(name, number), prepared, expire: nil, tag: nil)
                if let maxLength {
                    while tail - head > Int64(maxLength) {
                        if side == .back {
                            try tx.deleteRaw(Cache.queueKey(name, head)); head += 1
                        } else {
                            tail -= 1; try tx.deleteRaw(Cache.queueKey(name, tail))
                        }
                    }
                }
                try tx.setQueueBounds(name, head, tail)
        }
    }

    /// Removes and returns the first item; nil if empty.
    public func popFirst() throws -> Element? { try cache.queueTake(prefix: name, side: .front, remove: true, as: Element.self)?.value }

    /// Removes and returns the last item; nil if empty.
    public func popLast() throws -> Element? { try cache.queueTake(prefix: name, side: .back, remove: true, as: Element.self)?.value }

    /// The first item; nil if empty.
    public var first: Element? { get throws { try cache.queueTake(prefix: name, side: .front, remove: false, as: Element.self)?.value } }

    /// The last item; nil if empty.
    public var last: Element? { get throws { try cache.queueTake(prefix: name, side: .back, remove: false, as: Element.self)?.value } }

    /// Number of items (slots between head and tail; an item removed behind the deque's back, by
    /// eviction or a direct delete, is counted until a pop passes it).
    public var count: Int { get throws { let (h, t) = try bounds(); return Int(t - h) } }

    public var isEmpty: Bool { get throws { try count == 0 } }

    /// The items front to back (or back to front with `reversed`), as of the start of the call;
    /// items popped meanwhile are skipped.
    public func elements(reversed: Bool = false) throws -> [Element] {
        let (head, tail) = try bounds()
        let numbers = reversed ? Array((head..<tail).reversed()) : Array(head..<tail)
        return try numbers.compactMap { n in try cache.get(StoredKeyBytes(bytes: Cache.queueKey(name, n)), as: Element.self) }
    }

    /// Removes every item.
    public func removeAll() throws {
        try cache.transact { tx in
            // The bounds are read inside the transaction: an item appended meanwhile is removed too.
            let (head, tail) = try tx.queueBounds(name)
            for n in head..<tail { try tx.deleteRaw(Cache.queueKey(name, n)) }
            try tx.setQueueBounds(name, 0, 0)
        }
    }

    func bounds() throws -> (Int64, Int64) {
        guard let b = try cache.bookkeeping(Cache.queueBoundsKey(name)), b.count == 16 else { return (0, 0) }
        return (ValueCodec.int64(Array(b[0..<8])), ValueCodec.int64(Array(b[8..<16])))
    }
}

extension PersistentDeque: Sequence {
    /// Iterates front to back over a snapshot read when iteration starts. A read error ends the
    /// iteration early; use ``elements(reversed:)`` to see errors.
    public func makeIterator() -> IndexingIterator<[Element]> { ((try? elements()) ?? []).makeIterator() }
}

/// A key already in canonical form (engine bytes), to read through the typed API.
struct StoredKeyBytes: CacheKey {
    let bytes: [UInt8]
    var cacheKeyBytes: [UInt8] { bytes }
}
