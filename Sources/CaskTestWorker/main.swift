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
#if canImport(Glibc)
import Glibc
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

let args = CommandLine.arguments
guard args.count >= 3 else { fail("usage: write|read|churn <dir> ...") }
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
    default:
        fail("unknown command \(args[1])")
    }
} catch {
    fail("\(error)")
}
