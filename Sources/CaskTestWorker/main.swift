// A child process for Cask's multi-process tests. It opens a store on its own, does what its
// arguments say, and reports on stdout, flushing after every line so the parent knows exactly
// which writes were acknowledged even if it kills this process.
//
//   cask-test-worker write <dir> <prefix> <count> [none|always]
//       sets "<prefix>-<i>" = "value-<prefix>-<i>" for i in 0..<count; prints "ack <i>" after each
//   cask-test-worker read <dir> <key>
//       prints the value, or exits 1 if absent
//   cask-test-worker churn <dir> <seed> <ops>
//       random puts/deletes over 50 keys "k<n>" with values "<seed>:<op>"; compacts now and then;
//       prints "put <key> <value>" / "del <key>" after each acknowledged write
#if canImport(Glibc)
import Glibc
#endif
import CaskStore

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
