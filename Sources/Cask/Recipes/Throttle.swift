#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CaskStore

/// At most `count` calls per `period`, across every thread and process that opens the cache
/// directory (diskcache's `throttle`).
///
/// A token bucket: it holds up to `count` tokens, refills at `count / period` per second, and each
/// call takes one. A fresh bucket is full, so a burst of `count` calls passes at once and later
/// calls are spaced by `period / count`; over any interval of length T at most `count + T × count /
/// period` calls pass. The bucket (tokens, last refill time) is a record in the cache's own
/// namespace (key `0x00 "throttle" 0x01 <name>`), read and written inside ``Cache/transact(_:)``,
/// so processes share it. Time comes from the cache's clock, and so does waiting: on a
/// ``ManualClock`` a waiting `acquire()` moves the clock forward instead of sleeping.
///
/// ```swift
/// let api = try Throttle(cache: cache, name: "geocoder", count: 10, per: .seconds(1))
/// let place = try api.run { try geocode(address) }
/// ```
public struct Throttle: Sendable {
    public let cache: Cache
    public let name: String
    public let count: Int
    public let period: Duration
    let key: [UInt8]

    public init(cache: Cache, name: String, count: Int, per period: Duration) throws {
        guard count >= 1, period > .zero else { throw CaskError(.invalidArgument, "a throttle needs count ≥ 1 and a positive period") }
        self.cache = cache
        self.name = name
        self.count = count
        self.period = period
        key = Cache.bookkeepingKey("throttle", Array(name.utf8))
    }

    var ratePerMicro: Double {
        let (s, a) = period.components
        return Double(count) / (Double(s) * 1e6 + Double(a) / 1e12)
    }

    /// Takes a token if one is available now. Returns 0 if it did, else how many seconds until one
    /// will be (and takes nothing).
    func take() throws -> Double {
        let rate = ratePerMicro
        let capacity = Double(count)
        return try cache.transact { tx in
            let now = tx.now
            var tokens = capacity
            if let b = try tx.cache.bookkeeping(key), b.count == 16 {
                let stored = Double(bitPattern: UInt64(bitPattern: ValueCodec.int64(Array(b[0..<8]))))
                let last = ValueCodec.int64(Array(b[8..<16]))
                tokens = min(capacity, stored + Double(max(0, now - last)) * rate)
            }
            let wait: Double
            if tokens >= 1 {
                tokens -= 1
                wait = 0
            } else {
                wait = (1 - tokens) / rate / 1e6
            }
            try tx.cache.setBookkeeping(key, ValueCodec.le(Int64(bitPattern: tokens.bitPattern)) + ValueCodec.le(now))
            return wait
        }
    }

    /// Takes a call slot if one is free now; false otherwise.
    public func tryAcquire() throws -> Bool { try take() == 0 }

    /// How long to wait before trying again: the time until a token, at least 100 µs and at most
    /// 1 s (other processes may take the token first, or change nothing for long).
    static func pauseLength(_ wait: Double) -> Double { min(1, max(0.000_1, wait)) }

    /// Waits (blocking the thread, on the cache's clock: ``CacheClock/pause(seconds:)``) until a
    /// call slot is free, and takes it.
    public func acquire() throws {
        while true {
            let wait = try take()
            if wait == 0 { return }
            cache.clock.pause(seconds: Self.pauseLength(wait))
        }
    }

    /// Waits (suspending the task, on the cache's clock: ``CacheClock/sleep(seconds:)``) until a
    /// call slot is free, and takes it.
    public func acquire() async throws {
        while true {
            let wait = try take()
            if wait == 0 { return }
            try await cache.clock.sleep(seconds: Self.pauseLength(wait))
        }
    }

    /// Runs `body` once a call slot is free.
    public func run<R>(_ body: () throws -> R) throws -> R {
        try acquire()
        return try body()
    }

    /// Runs `body` once a call slot is free, waiting without blocking a thread.
    public func run<R>(_ body: () async throws -> R) async throws -> R {
        try await acquire()
        return try await body()
    }
}

extension Cache {
    /// Wraps `body` so that at most `count` calls per `period` run, across processes; see ``Throttle``.
    public func throttle<Arguments, Output>(name: String, count: Int, per period: Duration,
                                            _ body: @escaping @Sendable (Arguments) throws -> Output) throws -> @Sendable (Arguments) throws -> Output {
        let throttle = try Throttle(cache: self, name: name, count: count, per: period)
        return { arguments in try throttle.run { try body(arguments) } }
    }

    /// Wraps `body` so that one call at a time runs, across threads and processes (diskcache's
    /// `barrier`): every call takes the ``Lock`` named `name` for its duration.
    public func barrier<Arguments, Output>(name: String,
                                           _ body: @escaping @Sendable (Arguments) throws -> Output) throws -> @Sendable (Arguments) throws -> Output {
        let lock = try Lock(cache: self, name: "barrier-" + name)
        return { arguments in try lock.withLock { try body(arguments) } }
    }
}
