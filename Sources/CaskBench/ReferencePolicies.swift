/// Exact cache policies over a trace of dense key ids (0..<keyCount), counted in items: the
/// references the engine's approximations are compared with on the same trace in the same run.
public enum ReferencePolicy: String, Sendable, CaseIterable {
    /// First in, first out; hits change nothing.
    case fifo = "exact-fifo"
    /// Least recently used (a doubly linked list).
    case lru = "exact-lru"
    /// Least frequently used: the fewest hits since insertion, ties to the least recently used.
    case lfu = "exact-lfu"
    /// S3-FIFO (SOSP '23): a small FIFO (10%) of new keys, a main FIFO with reinsertion (2-bit
    /// frequency), and a ghost FIFO of the keys evicted from the small one.
    case s3fifo = "s3-fifo"

    /// Replays `trace` through a cache of `capacity` items; returns the number of hits.
    public func hits(trace: [Int], capacity: Int) -> Int {
        precondition(capacity >= 1)
        let keys = (trace.max() ?? 0) + 1
        switch self {
        case .fifo: return Self.fifoHits(trace, capacity, keys)
        case .lru: return Self.lruHits(trace, capacity, keys)
        case .lfu: return Self.lfuHits(trace, capacity, keys)
        case .s3fifo: return Self.s3fifoHits(trace, capacity, keys)
        }
    }

    static func fifoHits(_ trace: [Int], _ capacity: Int, _ keys: Int) -> Int {
        var present = [Bool](repeating: false, count: keys)
        var queue = IntQueue()
        var hits = 0
        for k in trace {
            if present[k] { hits += 1; continue }
            if queue.count >= capacity { present[queue.popFirst()] = false }
            queue.append(k)
            present[k] = true
        }
        return hits
    }

    static func lruHits(_ trace: [Int], _ capacity: Int, _ keys: Int) -> Int {
        // Circular doubly linked list with a sentinel at index `keys`; most recent next to it.
        let head = keys
        var next = [Int](repeating: -1, count: keys + 1), prev = [Int](repeating: -1, count: keys + 1)
        next[head] = head
        prev[head] = head
        var count = 0, hits = 0
        func unlink(_ k: Int) { next[prev[k]] = next[k]; prev[next[k]] = prev[k] }
        func pushFront(_ k: Int) { next[k] = next[head]; prev[k] = head; prev[next[head]] = k; next[head] = k }
        for k in trace {
            if next[k] >= 0 {
                hits += 1
                unlink(k)
                pushFront(k)
                continue
            }
            if count >= capacity {
                let victim = prev[head]
                unlink(victim)
                next[victim] = -1
                count -= 1
            }
            pushFront(k)
            count += 1
        }
        return hits
    }

    static func lfuHits(_ trace: [Int], _ capacity: Int, _ keys: Int) -> Int {
        // A min-heap of (frequency, last use) with stale entries skipped when they surface.
        var frequency = [Int](repeating: 0, count: keys)   // 0: not cached
        var lastUse = [Int](repeating: 0, count: keys)
        var heap = MinHeap()
        var count = 0, hits = 0
        for (tick, k) in trace.enumerated() {
            if frequency[k] > 0 {
                hits += 1
                frequency[k] += 1
            } else {
                while count >= capacity {
                    let (f, t, victim) = heap.pop()
                    guard frequency[victim] == f && lastUse[victim] == t else { continue }
                    frequency[victim] = 0
                    count -= 1
                }
                frequency[k] = 1
                count += 1
            }
            lastUse[k] = tick
            heap.push(frequency[k], tick, k)
        }
        return hits
    }

    static func s3fifoHits(_ trace: [Int], _ capacity: Int, _ keys: Int) -> Int {
        let smallCapacity = max(1, capacity / 10)
        let mainCapacity = max(1, capacity - smallCapacity)
        // 0: absent, 1: small, 2: main.
        var place = [UInt8](repeating: 0, count: keys)
        var frequency = [UInt8](repeating: 0, count: keys)
        var ghostStamp = [Int](repeating: -1, count: keys)
        var small = IntQueue(), main = IntQueue(), ghost = IntQueue(), ghostStamps = IntQueue()
        var ghostCount = 0, stamp = 0, hits = 0

        func addGhost(_ k: Int) {
            stamp += 1
            ghostStamp[k] = stamp
            ghost.append(k)
            ghostStamps.append(stamp)
            ghostCount += 1
            while ghostCount > mainCapacity {
                let g = ghost.popFirst(), s = ghostStamps.popFirst()
                if ghostStamp[g] == s { ghostStamp[g] = -1 }
                ghostCount -= 1
            }
        }
        func evictMain() {
            while main.count > 0 {
                let t = main.popFirst()
                if frequency[t] > 0 {
                    frequency[t] -= 1
                    main.append(t)
                } else {
                    place[t] = 0
                    return
                }
            }
        }
        func evictSmall() {
            while small.count > 0 {
                let t = small.popFirst()
                if frequency[t] > 0 {
                    place[t] = 2
                    frequency[t] = 0
                    main.append(t)
                    if main.count > mainCapacity { evictMain(); return }
                } else {
                    place[t] = 0
                    addGhost(t)
                    return
                }
            }
        }
        for k in trace {
            if place[k] != 0 {
                hits += 1
                if frequency[k] < 3 { frequency[k] += 1 }
                continue
            }
            while small.count + main.count >= capacity {
                if small.count > smallCapacity || main.count == 0 { evictSmall() } else { evictMain() }
            }
            frequency[k] = 0
            if ghostStamp[k] >= 0 {
                ghostStamp[k] = -1
                place[k] = 2
                main.append(k)
            } else {
                place[k] = 1
                small.append(k)
            }
        }
        return hits
    }
}

/// A FIFO of integers (a growable ring).
struct IntQueue {
    private var storage: [Int] = []
    private var head = 0
    private(set) var count = 0

    mutating func append(_ x: Int) {
        if count == storage.count {
            var grown = [Int](repeating: 0, count: Swift.max(16, storage.count * 2))
            for i in 0..<count { grown[i] = storage[(head + i) % storage.count] }
            storage = grown
            head = 0
        }
        storage[(head + count) % storage.count] = x
        count += 1
    }

    mutating func popFirst() -> Int {
        precondition(count > 0)
        let x = storage[head]
        head = (head + 1) % storage.count
        count -= 1
        return x
    }
}

/// A binary min-heap of (frequency, tick, key), ordered by frequency then tick.
struct MinHeap {
    private var items: [(Int, Int, Int)] = []

    private static func less(_ a: (Int, Int, Int), _ b: (Int, Int, Int)) -> Bool { a.0 != b.0 ? a.0 < b.0 : a.1 < b.1 }

    mutating func push(_ f: Int, _ t: Int, _ k: Int) {
        items.append((f, t, k))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.less(items[i], items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> (Int, Int, Int) {
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count && Self.less(items[l], items[m]) { m = l }
                if r < items.count && Self.less(items[r], items[m]) { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}
