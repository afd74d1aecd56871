import CaskTestSupport
import Foundation
import CaskStore
import Testing
@testable import Cask

@Suite("Memoize: any number of arguments")
struct MemoizeArityTests {
    func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test func zeroArguments() async throws {
        let f = try makeCache()
        let runs = Counter()
        let load = f.cache.memoize(name: "load") { () throws -> Report in
            Report(id: runs.bump(), title: "settings")
        }
        #expect(try load() == Report(id: 1, title: "settings"))
        #expect(try load() == Report(id: 1, title: "settings"))
        #expect(runs.value == 1)
        #expect(try load.isCached())
        #expect(text(try load.key()) == #"j{"fn":"load","v":"","x":[]}"#)
        #expect(try load.recompute() == Report(id: 2, title: "settings"))
        #expect(try load() == Report(id: 2, title: "settings"))

        let fetch = f.cache.memoize(name: "fetch") { () async throws -> Int in
            try await Task.sleep(for: .milliseconds(1))
            return runs.bump()
        }
        #expect(try await fetch() == 3)
        #expect(try await fetch() == 3)
        #expect(try fetch.info() != nil)
    }

    @Test func severalArgumentsInOrder() async throws {
        let f = try makeCache()
        let runs = Counter()
        let minus = f.cache.memoize(name: "minus", version: "1") { (a: Int, b: Int) in runs.bump(); return a - b }
        #expect(try minus(1, 2) == -1)
        #expect(try minus(2, 1) == 1)
        #expect(try minus(1, 2) == -1)
        #expect(runs.value == 2)
        #expect(text(try minus.key(for: 1, 2)) == #"j{"fn":"minus","v":"1","x":[1,2]}"#)
        #expect(try minus.key(for: 1, 2) != minus.key(for: 2, 1))

        // Mixed types, each argument through the canonical encoding (the set is sorted).
        let mixed = f.cache.memoize(name: "mixed") { (name: String, tags: Set<String>, page: Int?) in "\(name) \(tags.count) \(page ?? 0)" }
        #expect(text(try mixed.key(for: "a/b", ["z", "m", "a"], nil)) == #"j{"fn":"mixed","v":"","x":["a/b",["a","m","z"],null]}"#)
        #expect(try mixed("n", ["x"], 3) == "n 1 3")
        #expect(try mixed.isCached("n", ["x"], 3))
        #expect(try !mixed.isCached("n", ["x"], 4))

        let typed = f.cache.memoize(name: "typed", typed: true) { (a: Int, b: String) in b + String(a) }
        #expect(text(try typed.key(for: 1, "x")) == #"j{"fn":"typed","t":"(Swift.Int, Swift.String)","v":"","x":[1,"x"]}"#)

        let join = f.cache.memoize(name: "join") { (a: String, b: String) async throws -> String in runs.bump(); return a + b }
        #expect(try await join("a", "b") == "ab")
        #expect(try await join("b", "a") == "ba")
        #expect(try await join("a", "b") == "ab")
        #expect(runs.value == 4)

        // keyedBy picks from several arguments too.
        let search = f.cache.memoize(name: "search", keyedBy: { (q: Query, limit: Int) in [q.text, String(limit)] }) { q, limit in
            runs.bump(); return "\(q.text):\(limit)"
        }
        #expect(try search(Query(text: "t", page: 1, traceID: 1), 10) == "t:10")
        #expect(try search(Query(text: "t", page: 2, traceID: 2), 10) == "t:10")
        #expect(runs.value == 5)
    }

    @Test func recursionThroughTheMemoizedFunction() async throws {
        let f = try makeCache()
        let runs = Counter()
        let fib = f.cache.memoizeRecursive(name: "fib") { fib, n in
            runs.bump()
            return n < 2 ? n : try fib(n - 1) + fib(n - 2)
        }
        #expect(try fib(40) == 102_334_155)
        #expect(runs.value == 41, "each n from 0 to 40 computed once")
        for n in 0...40 { #expect(try fib.isCached(n)) }
        // Another handle on the directory reads every sub-result back.
        let other = try Cache(directory: f.dir.path, clock: f.clock)
        let again = other.memoizeRecursive(name: "fib") { (fib: MemoizedFunction<Int, Int>, n: Int) -> Int in runs.bump(); return -1 }
        #expect(try again(40) == 102_334_155)
        #expect(runs.value == 41)

        let paths = f.cache.memoizeRecursiveAsync(name: "paths") { (paths, x: Int, y: Int) async throws -> Int in
            x == 0 || y == 0 ? 1 : try await paths(x - 1, y) + paths(x, y - 1)
        }
        #expect(try await paths(16, 16) == 601_080_390)
        #expect(try paths.isCached(8, 3))
    }

    /// Threads computing overlapping recursions share flights of different arguments: none waits
    /// for a computation that waits for it.
    @Test func concurrentRecursionDoesNotDeadlock() throws {
        let f = try makeCache()
        let fib = f.cache.memoizeRecursive(name: "fib") { fib, n in n < 2 ? n : try fib(n - 1) + fib(n - 2) }
        let results = Locked<[Int: Int]>([:])
        let group = DispatchGroup()
        for i in 0..<4 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                if let v = try? fib(60 - i) { results.withLock { $0[i] = v } }
            }
        }
        try #require(group.wait(timeout: .now() + 20) == .success, "no thread may wait forever")
        #expect(results.withLock { $0 } == [0: 1_548_008_755_920, 1: 956_722_026_041, 2: 591_286_729_879, 3: 365_435_296_162])
    }

    @Test func recursionIntoTheSameArgumentsThrows() async throws {
        let f = try makeCache()
        for singleFlight in [true, false] {
            let loop = f.cache.memoizeRecursive(name: "loop-\(singleFlight)", stampede: StampedeProtection(singleFlight: singleFlight)) {
                (loop, n: Int) -> Int in n == 0 ? try loop(1) : try loop(0)          // 0 → 1 → 0
            }
            let outcome = try #require(runBounded(seconds: 10) { try loop(0) }, "the call must not hang")
            #expect(throws: CaskError.self) { try outcome.get() }
            if case .failure(let e) = outcome, let error = e as? CaskError {
                #expect(error.code == .invalidArgument)
                #expect("\(error)".contains("same arguments"))
            }
            #expect(try !loop.isCached(0) && !loop.isCached(1), "nothing stored")
        }
        let direct = f.cache.memoizeRecursiveAsync(name: "self") { (me, n: Int) async throws -> Int in n > 0 ? try await me(n) : 0 }
        let outcome = await runBoundedAsync(seconds: 10) { try await direct(3) }
        let result = try #require(outcome, "the call must not hang")
        #expect(throws: CaskError.self) { try result.get() }
        #expect(try await direct(0) == 0, "the chain is left behind")
    }

    /// Calls that form a cycle (0 calls 1, 1 calls 0), entered at 0 and at 1 at once by two
    /// threads: each leads one flight; the wait that would close the circle throws instead, and the
    /// other thread gets that error through the flight, so neither waits forever.
    @Test func aCycleThroughTwoThreadsThrows() throws {
        let f = try makeCache()
        let inside = Barrier(parties: 2)
        let g = f.cache.memoizeRecursive(name: "cycle") { (g, n: Int) -> Int in
            inside.arrive(timeout: 10)          // both computations are running
            return try g(1 - n) + 1
        }
        let results = Locked<[Int: Result<Int, any Error>]>([:])
        let group = DispatchGroup()
        for start in 0...1 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                let r = Result { try g(start) }
                results.withLock { $0[start] = r }
            }
        }
        try #require(group.wait(timeout: .now() + 20) == .success, "neither thread may wait forever")
        for start in 0...1 {
            let result = try #require(results.withLock { $0[start] })
            #expect(throws: CaskError.self) { try result.get() }
        }
        #expect(try !g.isCached(0) && !g.isCached(1))
    }

    /// `typed:` matters where one name serves several argument types: a generic function that
    /// memoizes its body. Untyped, `describe(1.0)` would be served `describe(1)`'s result.
    @Test func typedSeparatesTheInstancesOfAGenericFunction() throws {
        let f = try makeCache()
        func describe<T: Codable & Sendable>(_ x: T, typed: Bool) throws -> String {
            try f.cache.memoize(name: typed ? "describe-typed" : "describe", typed: typed) { (x: T) in "\(T.self) \(x)" }(x)
        }
        #expect(try describe(1, typed: true) == "Int 1")
        #expect(try describe(1.0, typed: true) == "Double 1.0")
        #expect(try describe(1, typed: false) == "Int 1")
        #expect(try describe(1.0, typed: false) == "Int 1", "1 and 1.0 are the same JSON number")
    }

    /// Swift names a type declared in a function with an address that changes from process to
    /// process: the typed key leaves it out, or no later process would find the results.
    @Test func typedKeysOfLocalTypesAreTheSameInEveryProcess() throws {
        let f = try makeCache()
        struct Local: Codable, Sendable { var a: Int }
        try #require(String(reflecting: Local.self).contains("$"), "Swift's name carries the address")
        let local = f.cache.memoize(name: "loc", typed: true) { (x: Local) in x.a }
        let oneKey = text(try local.key(for: Local(a: 1)))
        #expect(oneKey == #"j{"fn":"loc","t":"CaskRecipeTests.MemoizeArityTests.(local).(local).Local","v":"","x":{"a":1}}"#)
        let two = f.cache.memoize(name: "loc2", typed: true) { (x: Local, y: [Local]) in x.a + y.count }
        let twoKey = text(try two.key(for: Local(a: 1), []))
        #expect(twoKey == #"j{"fn":"loc2","t":"(CaskRecipeTests.MemoizeArityTests.(local).(local).Local, Swift.Array<CaskRecipeTests.MemoizeArityTests.(local).(local).Local>)","v":"","x":[{"a":1},[]]}"#)
    }
}

/// Runs `work` on a thread of its own and waits at most `seconds`: nil if it did not finish.
func runBounded<T: Sendable>(seconds: Double, _ work: @escaping @Sendable () throws -> T) -> Result<T, any Error>? {
    let result = Locked<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
        let r = Result { try work() }
        result.withLock { $0 = r }
        done.signal()
    }
    guard done.wait(timeout: .now() + seconds) == .success else { return nil }
    return result.withLock { $0 }
}

/// Runs `work` in a child task and waits at most `seconds` (then cancels it): nil if it did not finish.
func runBoundedAsync<T: Sendable>(seconds: Double, _ work: @escaping @Sendable () async throws -> T) async -> Result<T, any Error>? {
    await withTaskGroup(of: Result<T, any Error>?.self) { group in
        group.addTask {
            do { return .success(try await work()) } catch { return .failure(error) }
        }
        group.addTask {
            try? await Task.sleep(for: .seconds(seconds))
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}

/// Lets `parties` threads go on only when all have arrived (or `timeout` has passed).
final class Barrier: Sendable {
    let parties: Int
    let arrived = Locked(0)
    let release = DispatchSemaphore(value: 0)

    init(parties: Int) { self.parties = parties }

    func arrive(timeout: Double) {
        let last = arrived.withLock { n -> Bool in n += 1; return n == parties }
        if last {
            for _ in 1..<parties { release.signal() }
        } else {
            _ = release.wait(timeout: .now() + timeout)
        }
    }
}
