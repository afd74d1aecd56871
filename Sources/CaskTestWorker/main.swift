// A child process for Cask's multi-process tests. It opens a store on its own, does what its
// arguments say, and reports on stdout, flushing after every line so the parent knows exactly
// which writes were acknowledged even if it kills this process.
//
//   cask-test-worker write <dir> <prefix> <count> [none|always]
//       sets "<prefix>-<i>" = "value-<prefix>-<i>" for i in 0..<count; prints "ack <i>" after each
//   cask-test-worker read <dir> <key>
//       prints the value, or exits 1 if absent
//   cask-test-worker cache-add <dir> <name> <keys>
//       Cache.add("a<i>", name) for each i; prints "added <i>" for every add that succeeded
//   cask-test-worker cache-stress <dir> <seed> <ops> <threads>
//       random set/get/delete/add/incr/pop/touch/evict/expire through a Cache from several
//       threads; values are "<seed>:<n>" so readers can check each one was written
//   cask-test-worker churn <dir> <seed> <ops>
//       random puts/deletes over 50 keys "k<n>" with values "<seed>:<op>"; compacts now and then;
//       prints "put <key> <value>" / "del <key>" after each acknowledged write
//   cask-test-worker crash-writer <dir> <slot> <seed>
//       runs until killed: puts (and some deletes) over 200 keys "<slot>-k<n>", compacting every
//       150 operations; before each write prints "i p <key> <value>" or "i d <key>", after it "ok"
//   cask-test-worker cache-crash-writer <dir> <seed> <none|interval|always>
//       runs until killed, through a Cache: sets of 33 KiB values (value files) and small ones,
//       deletes, 3-key transactions and now and then a clear, over 40 keys "k<n>"; before each
//       operation prints its intent — "i p <key> <n> <big|small>", "i d <key>",
//       "i t <key> <n> <key> <n> -<key>", "i c" — and "ok" after it; the value of (key, n) is
//       `crashValue(key, n, big)`
//   cask-test-worker model <dir> <id> <seed> <ops>
//       random sets/gets/deletes on keys s0-s7, increments of c0-c2 and add-if-absent/deletes of
//       a0-a2 (both through `mutate`), compactions; prints one line per operation saying what it
//       did and saw: "set <k> <v>", "get <k> <v|->", "del <k> <true|false>", "inc <k> <old>",
//       "add <k> <v> <ok|no>", "compact"
//   cask-test-worker fork-write <dir> <count>
//       opens the store, writes "before-fork", forks; the child tries <count> puts, a get and a
//       delete, prints "child refused <n> accepted <n> other <n>" and exits 0 only if every one
//       threw the fork error; the parent then writes "after-fork" and prints "child exit <status>"
//   cask-test-worker fork-close-temporary
//       opens a temporary `Cache()`, stores "kept", forks; the child closes the cache and exits;
//       the parent then prints "parent reads <value or nil> directory <exists|gone>"
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Cask
import CaskStore
import Dispatch
import Synchronization

/// Writes a line straight to a descriptor (unbuffered: the parent sees it before a kill).
func writeLine(_ fd: Int32, _ line: String) {
    var bytes = Array((line + "\n").utf8)
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
        if n <= 0 { return }
        done += n
    }
}

func emit(_ line: String) { writeLine(1, line) }

func fail(_ message: String) -> Never {
    writeLine(2, "cask-test-worker: \(message)")
    exit(2)
}

/// xorshift64: a deterministic stream per seed.
struct XorShift {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}

let args = CommandLine.arguments
guard args.count >= 3 || args.count == 2 && args[1] == "fork-close-temporary" else {
    fail("usage: write|read|churn|crash-writer|model <dir> ... | fork-close-temporary")
}
var options = StoreOptions()
options.segmentSize = 64 << 10  // small segments: exercise rolls across processes
options.compactionMinimumDeadBytes = 32 << 10

do {
    switch args[1] {
    case "write":
        guard args.count >= 5, let count = Int(args[4]) else { fail("write <dir> <prefix> <count> [none|always]") }
        if args.count >= 6 && args[5] == "always" { options.durability = .always }
        let store = try Store(directory: args[2], options: options)
        for i in 0..<count {
            let key = "\(args[3])-\(i)"
            try store.put(Array(key.utf8), Array("value-\(key)".utf8))
            emit("ack \(i)")
        }
        try store.close()
    case "die-holding-locks":
        // Dies (no unwinding, no unlock) inside a transaction, which holds every shard's write lock.
        guard args.count >= 3 else { fail("die-holding-locks <dir>") }
        let store = try Store(directory: args[2], options: options)
        try store.put(Array("before".utf8), Array("kept".utf8))
        try store.transact { tx in
            try tx.put(Array("inside".utf8), Array("never applied".utf8))
            emit("holding")
            _exit(9)
        }
    case "read":
        guard args.count >= 4 else { fail("read <dir> <key>") }
        let store = try Store(directory: args[2], options: options)
        guard let v = try store.get(Array(args[3].utf8)) else { exit(1) }
        emit(String(decoding: v, as: UTF8.self))
    case "cache-add":
        guard args.count >= 5, let keys = Int(args[4]) else { fail("cache-add <dir> <name> <keys>") }
        let cache = try Cache(directory: args[2], settings: CacheSettings(shards: 4))
        for i in 0..<keys where try cache.add("a\(i)", args[3]) { emit("added \(i)") }
        try cache.close()
    case "cache-stress":
        guard args.count >= 6, let seed = UInt64(args[3]), let ops = Int(args[4]), let threads = Int(args[5]) else {
            fail("cache-stress <dir> <seed> <ops> <threads>")
        }
        let cache = try Cache(directory: args[2], settings: CacheSettings(shards: 4, minFileSize: 2048))
        let increments = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            var rng = (seed &* 31 &+ UInt64(t)) &* 0x9E37_79B9_7F4A_7C15 | 1
            func next(_ n: Int) -> Int {
                rng ^= rng << 13
                rng ^= rng >> 7
                rng ^= rng << 17
                return Int(rng % UInt64(n))
            }
            do {
                for n in 0..<ops {
                    let key = "s\(next(40))"
                    let value = "\(seed):\(t):\(n)" + String(repeating: "x", count: next(4) == 0 ? 3000 : next(50))
                    switch next(12) {
                    case 0, 1, 2: try cache.set(key, value, expire: next(3) == 0 ? 0.05 : nil, tag: next(2) == 0 ? "even" : nil)
                    case 3, 4, 5:
                        if let v = try cache.get(key, as: String.self), !v.contains(":") { fail("read garbage \(v.prefix(40))") }
                    case 6: try cache.delete(key)
                    case 7: try cache.add(key, value)
                    case 8:
                        try cache.incr("shared-counter")
                        increments.add(1, ordering: .relaxed)
                    case 9: _ = try cache.pop(key, as: String.self)
                    case 10: try cache.touch(key, expire: 10)
                    default: if next(20) == 0 { try cache.evict(tag: "even") } else { try cache.expire() }
                    }
                }
            } catch {
                fail("\(error)")
            }
        }
        emit("increments \(increments.load(ordering: .relaxed))")
        try cache.close()
    case "churn":
        guard args.count >= 5, let seed = UInt64(args[3]), let ops = Int(args[4]) else { fail("churn <dir> <seed> <ops>") }
        let store = try Store(directory: args[2], options: options)
        var rng = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func next() -> UInt64 {
            rng ^= rng << 13
            rng ^= rng >> 7
            rng ^= rng << 17
            return rng
        }
        for op in 0..<ops {
            let key = "k\(next() % 50)"
            switch next() % 10 {
            case 0:
                try store.delete(Array(key.utf8))
                emit("del \(key)")
            case 1 where op % 50 == 0:
                _ = try store.compact()
            default:
                let value = "\(seed):\(op)"
                try store.put(Array(key.utf8), Array(value.utf8))
                emit("put \(key) \(value)")
            }
        }
        try store.close()
    case "crash-writer":
        guard args.count >= 5, let seed = UInt64(args[4]) else { fail("crash-writer <dir> <slot> <seed>") }
        options.segmentSize = 16 << 10
        options.compactionMinimumDeadBytes = 8 << 10
        let store = try Store(directory: args[2], options: options)
        var rng = XorShift(seed: seed)
        var op = 0
        while true {
            op += 1
            if op % 150 == 0 {
                _ = try store.compact()
                continue
            }
            let key = "\(args[3])-k\(rng.next() % 200)"
            if rng.next() % 7 == 0 {
                emit("i d \(key)")
                try store.delete(Array(key.utf8))
            } else {
                let value = "\(seed):\(op):" + String(repeating: "v", count: Int(rng.next() % 200))
                emit("i p \(key) \(value)")
                try store.put(Array(key.utf8), Array(value.utf8))
            }
            emit("ok")
        }
    case "cache-crash-writer":
        guard args.count >= 5, let seed = UInt64(args[3]) else { fail("cache-crash-writer <dir> <seed> <none|interval|always>") }
        let durability: CacheDurability = switch args[4] {
        case "always": .always
        case "interval": .interval(.milliseconds(5))
        default: .none
        }
        let cache = try Cache(directory: args[2], settings: CacheSettings(shards: 2, durability: durability), persistSettings: false)
        var rng = XorShift(seed: seed)
        var n = 0
        func key() -> String { "k\(rng.next() % 40)" }
        while true {
            n += 1
            switch rng.next() % 100 {
            case 0:
                emit("i c")
                try cache.clear()
            case 1..<40:
                let k = key()
                emit("i p \(k) \(n) big")
                try cache.set(k, crashValue(k, n, big: true))
            case 40..<70:
                let k = key()
                emit("i p \(k) \(n) small")
                try cache.set(k, crashValue(k, n, big: false))
            case 70..<85:
                let k = key()
                emit("i d \(k)")
                try cache.delete(k)
            default:
                let a = key(), b = key(), c = key()
                guard a != b && b != c && a != c else { continue }
                emit("i t \(a) \(n) \(b) \(n) -\(c)")
                try cache.transact { tx in
                    try tx.set(a, crashValue(a, n, big: true))
                    try tx.set(b, crashValue(b, n, big: false))
                    try tx.delete(c)
                }
            }
            emit("ok")
        }
    case "model":
        guard args.count >= 6, let seed = UInt64(args[4]), let ops = Int(args[5]) else { fail("model <dir> <id> <seed> <ops>") }
        let id = args[3]
        let store = try Store(directory: args[2], options: options)
        var rng = XorShift(seed: seed)
        func show(_ v: [UInt8]?) -> String { v.map { String(decoding: $0, as: UTF8.self) } ?? "-" }
        for op in 0..<ops {
            let n = rng.next()
            switch n % 20 {
            case 0..<5:
                let k = "s\(rng.next() % 8)", v = "\(id):\(op)"
                try store.put(Array(k.utf8), Array(v.utf8))
                emit("set \(k) \(v)")
            case 5..<9:
                let k = ["s", "c", "a"][Int(rng.next() % 3)] + "\(rng.next() % 3)"
                emit("get \(k) \(show(try store.get(Array(k.utf8))))")
            case 9:
                let k = "s\(rng.next() % 8)"
                emit("del \(k) \(try store.delete(Array(k.utf8)))")
            case 10..<15:
                let k = "c\(rng.next() % 3)"
                let old = try store.mutate(Array(k.utf8)) { view -> (Mutation, Int) in
                    let current = view.flatMap { Int(String(decoding: $0.value, as: UTF8.self)) } ?? 0
                    return (.put(value: Array(String(current + 1).utf8)), current)
                }
                emit("inc \(k) \(old)")
            case 15..<18:
                let k = "a\(rng.next() % 3)", v = "\(id):\(op)"
                let added = try store.mutate(Array(k.utf8)) { view -> (Mutation, Bool) in
                    view == nil ? (.put(value: Array(v.utf8)), true) : (.keep, false)
                }
                emit("add \(k) \(v) \(added ? "ok" : "no")")
            case 18:
                let k = "a\(rng.next() % 3)"
                emit("del \(k) \(try store.delete(Array(k.utf8)))")
            default:
                _ = try store.compact()
                emit("compact")
            }
        }
        try store.close()
    case "cache-pop-race":
        guard args.count >= 5, let ops = Int(args[4]) else { fail("cache-pop-race <dir> <name> <ops>") }
        let cache = try Cache(directory: args[2], settings: CacheSettings(shards: 4, minFileSize: 2048))
        for n in 0..<ops {
            // Each write's tag and expiry (n + 1 minutes) are derived from its mark, which starts its value.
            let mark = "\(args[3]):\(n)"
            try cache.set("r\(n % 16)", mark + "|" + String(repeating: "x", count: n % 3 == 0 ? 3000 : n % 50),
                          expire: .seconds(Double(n + 1) * 60), tag: mark)
            guard let entry = try cache.popEntry("r\((n * 7) % 16)", as: String.self) else { continue }
            let popped = String(entry.value.prefix { $0 != "|" })
            let lifetime = Double(Int(popped.split(separator: ":").last ?? "") ?? -2) * 60 + 60
            let matches = entry.tag == popped && abs((entry.expireTime ?? 0) - entry.storeTime - lifetime) < 0.001
            emit(matches ? "popped \(popped)" : "torn \(popped) tag \(entry.tag ?? "-") expire \(entry.expireTime ?? 0)")
        }
        try cache.close()
    case "fork-write":
        guard args.count >= 4, let count = Int(args[3]) else { fail("fork-write <dir> <count>") }
        let store = try Store(directory: args[2], options: options)
        try store.put(Array("before-fork".utf8), Array("parent".utf8))
        let pid = fork()
        guard pid >= 0 else { fail("fork failed: errno \(errno)") }
        if pid == 0 {
            // The child shares the parent's lock descriptions: every operation must be refused.
            var refused = 0, accepted = 0, other = 0
            func attempt(_ body: () throws -> Void) {
                do {
                    try body()
                    accepted += 1
                } catch let e as CaskError where e.code == .forked {
                    refused += 1
                } catch {
                    other += 1
                }
            }
            for i in 0..<count { attempt { try store.put(Array("child-\(i)".utf8), Array("child".utf8)) } }
            attempt { _ = try store.get(Array("before-fork".utf8)) }
            attempt { _ = try store.delete(Array("before-fork".utf8)) }
            emit("child refused \(refused) accepted \(accepted) other \(other)")
            _exit(accepted == 0 && other == 0 ? 0 : 1)
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        try store.put(Array("after-fork".utf8), Array("parent".utf8))
        emit("child exit \(status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + status & 0x7f)")
        try store.close()
    case "fork-close-temporary":
        let cache = try Cache()
        try cache.set("kept", "parent")
        let pid = fork()
        guard pid >= 0 else { fail("fork failed: errno \(errno)") }
        if pid == 0 {
            // The child's handle is the parent's: closing it must not remove the parent's directory.
            try? cache.close()
            _exit(0)
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let value = (try? cache.get("kept", as: String.self)) ?? nil
        let exists = access(cache.directory, F_OK) == 0
        emit("parent reads \(value ?? "nil") directory \(exists ? "exists" : "gone")")
        try cache.close()
    default:
        fail("unknown command \(args[1])")
    }
} catch {
    fail("\(error)")
}

/// The value `cache-crash-writer` stores for `key` at operation `n`: 33 KiB (a value file) or a
/// few bytes; the checker rebuilds it to compare.
func crashValue(_ key: String, _ n: Int, big: Bool) -> String {
    let unit = "\(key)=\(n);"
    return big ? String(repeating: unit, count: 33 * 1024 / unit.utf8.count + 1) : unit
}
