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
//   cask-recipe-worker async-blocked <dir> <memo|stream>  holds every shard's write lock (own descriptors) for
//                                                   2 s while 8 async memoized calls (or set(_:chunks:))
//                                                   wait for it; prints "slept <s>" (how long an unrelated
//                                                   10 ms Task.sleep took meanwhile), then "stored <n>"
//   cask-recipe-worker deque-append <dir> <tag> <n>  appends "<tag>-<i>"
//   cask-recipe-worker deque-pop <dir> <n>           pops n items from the front (waiting for them)
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Cask
import Dispatch

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

/// Async calls wait for shard locks held by another descriptor: does the cooperative pool stay free?
func asyncBlocked(_ cache: Cache, dir: String, stream: Bool) throws {
    var held: [Int32] = []
    while true {
        let digits = String(held.count)
        let path = dir + "/shard-" + String(repeating: "0", count: max(0, 3 - digits.count)) + digits + "/lock"
        let fd = open(path, O_RDWR | O_CLOEXEC)
        if fd < 0 { break }
        guard flock(fd, LOCK_EX) == 0 else { fail("cannot lock \(path)") }
        held.append(fd)
    }
    guard !held.isEmpty else { fail("no shard in \(dir)") }
    let locks = held
    DispatchQueue(label: "release").asyncAfter(deadline: .now() + 2) { for fd in locks { _ = flock(fd, LOCK_UN) } }
    let double = cache.memoize(name: "double") { (x: Int) async in x * 2 }
    let finished = DispatchSemaphore(value: 0)
    for i in 0..<8 {
        Task.detached {
            if stream {
                let chunks = AsyncStream<[UInt8]> { c in c.yield([UInt8](repeating: 7, count: 100)); c.finish() }
                try? await cache.set("k\(i)", chunks: chunks)
            } else {
                _ = try? await double(i)
            }
            finished.signal()
        }
    }
    usleep(50_000)   // the calls reach the locks
    let start = SystemClock().now
    let slept = DispatchSemaphore(value: 0)
    Task.detached { try? await Task.sleep(for: .milliseconds(10)); slept.signal() }
    slept.wait()
    emit("slept \(SystemClock().now - start)")
    for _ in 0..<8 { finished.wait() }
    let stored = try (0..<8).filter { i in stream ? try cache.get("k\(i)", as: [UInt8].self) != nil : try double.isCached(i) }.count
    emit("stored \(stored)")
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
    case "async-blocked":
        guard args.count > 3 else { fail("async-blocked <dir> <memo|stream>") }
        try asyncBlocked(cache, dir: args[2], stream: args[3] == "stream")
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
