// A child process for the recipe tests: opens the cache directory on its own, uses one recipe as
// its arguments say, and reports on stdout (one line per event, written unbuffered).
//
//   cask-recipe-worker lock-incr <dir> <n>           n read-modify-write increments of "counter" under a Lock
//   cask-recipe-worker rlock-incr <dir> <n>          the same under an RLock taken twice (nested)
//   cask-recipe-worker barrier-incr <dir> <n>        the same through a barrier-wrapped function
//   cask-recipe-worker sem <dir> <limit> <n>         n visits under a BoundedSemaphore; prints "inside <k>"
//   cask-recipe-worker throttle <dir> <count> <period-ms> <calls>   prints the time (s) of each call let through
//   cask-recipe-worker averager <dir> <n> <value>    adds value n times to the Averager "avg"
//   cask-recipe-worker memo <dir> <arg> <stale|wait>  calls a memoized function with the cross-process
//                                                   lock; prints "computed" if it ran it, then "result <r>"
//   cask-recipe-worker lock-hammer <dir> <seconds>   takes and releases the Lock "hot" back to back (blocking
//                                                   waits, holding 5 ms) until the key "stop" is set or
//                                                   seconds pass; increments "hammering" once it holds the
//                                                   lock for the first time; prints "turns <n>" at the end
//   cask-recipe-worker deque-append <dir> <tag> <n>  appends "<tag>-<i>"
//   cask-recipe-worker deque-pop <dir> <n>           pops n items from the front (waiting for them)
#if canImport(Glibc)
import Glibc
#endif
import Cask

func emit(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(1, $0.baseAddress! + done, $0.count - done) }
        if n <= 0 { return }
        done += n
    }
}

func fail(_ message: String) -> Never {
    let text = Array("cask-recipe-worker: \(message)\n".utf8)
    _ = text.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(2)
}

/// A read-modify-write that is wrong without mutual exclusion: read, yield, write back + 1.
func unsafeIncrement(_ cache: Cache) throws {
    let n = try cache.get("counter", as: Int.self) ?? 0
    sched_yield()
    usleep(100)
    try cache.set("counter", n + 1)
}

let args = CommandLine.arguments
guard args.count >= 3 else { fail("usage: <command> <dir> ...") }
func int(_ i: Int) -> Int {
    guard args.count > i, let v = Int(args[i]) else { fail("argument \(i) must be an integer") }
    return v
}

do {
    let cache = try Cache(directory: args[2])
    switch args[1] {
    case "lock-incr":
        let lock = try Lock(cache: cache, name: "counter")
        for _ in 0..<int(3) { try lock.withLock { try unsafeIncrement(cache) } }
    case "rlock-incr":
        let lock = try RLock(cache: cache, name: "counter")
        for _ in 0..<int(3) { try lock.withLock { try lock.withLock { try unsafeIncrement(cache) } } }
    case "barrier-incr":
        let step = try cache.barrier(name: "counter") { (c: Cache) in try unsafeIncrement(c) }
        for _ in 0..<int(3) { try step(cache) }
    case "sem":
        let sem = try BoundedSemaphore(cache: cache, name: "pool", limit: int(3))
        for _ in 0..<int(4) {
            try sem.withPermit {
                let inside = try cache.incr("inside")
                emit("inside \(inside)")
                usleep(2_000)
                try cache.decr("inside")
            }
        }
    case "throttle":
        let throttle = try Throttle(cache: cache, name: "api", count: int(3), per: .milliseconds(int(4)))
        for _ in 0..<int(5) {
            try throttle.acquire()
            emit("call \(SystemClock().now)")
        }
    case "averager":
        let avg = Averager(cache: cache, key: "avg")
        guard args.count > 4, let value = Double(args[4]) else { fail("averager <dir> <n> <value>") }
        for _ in 0..<int(3) { try avg.add(value) }
    case "memo":
        guard args.count > 4 else { fail("memo <dir> <arg> <stale|wait>") }
        let slow = cache.memoize(name: "slow", validity: [.custom { _ in args[4] != "stale" }],
                                 stampede: StampedeProtection(crossProcessLock: true, serveStale: args[4] == "stale")) { (x: String) -> String in
            emit("computed")
            usleep(300_000)
            return "\(x) by \(getpid())"
        }
        emit("result \(try slow(args[3]))")
    case "lock-hammer":
        let lock = try Lock(cache: cache, name: "hot")
        let deadline = SystemClock().now + Double(int(3))
        var turns = 0
        while SystemClock().now < deadline {
            try lock.withLock { _ = usleep(5_000) }
            turns += 1
            if turns == 1 { try cache.incr("hammering") }
            if turns % 16 == 0, try cache.get("stop", as: Bool.self) == true { break }
        }
        emit("turns \(turns)")
    case "deque-append":
        let deque = try PersistentDeque<String>(directory: args[2])
        for i in 0..<int(4) { try deque.append("\(args[3])-\(i)") }
    case "deque-pop":
        let deque = try PersistentDeque<String>(directory: args[2])
        var got = 0
        let deadline = SystemClock().now + 20
        while got < int(3) && SystemClock().now < deadline {
            if let item = try deque.popFirst() { emit("popped \(item)"); got += 1 } else { usleep(500) }
        }
    default:
        fail("unknown command \(args[1])")
    }
    try cache.close()
} catch {
    fail("\(error)")
}
