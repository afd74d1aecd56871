#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CaskStore
import Synchronization
import CaskStore

/// Where a cache reads the current wall-clock time. Expire times are compared with it; tests
/// inject a ``ManualClock`` to freeze and move time.
///
/// What waits for time to pass (a ``Throttle``'s `acquire()`) waits on the cache's clock too, so a
/// ``ManualClock`` test never waits in real time. The two ways of waiting have different names, so
/// that inside async code the blocking one is still callable without `await`.
public protocol CacheClock: Sendable {
    /// Seconds since the Unix epoch.
    var now: Double { get }

    /// Lets `seconds` of this clock's time pass, blocking the calling thread. By default the
    /// thread sleeps that long in real time.
    func pause(seconds: Double)

    /// Lets `seconds` of this clock's time pass, suspending the calling task. By default the task
    /// sleeps that long in real time.
    /// - Throws: `CancellationError` if the task is cancelled meanwhile.
    func sleep(seconds: Double) async throws
}

extension CacheClock {
    public func pause(seconds: Double) {
        guard seconds > 0 else { return }
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - seconds.rounded(.down)) * 1e9))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }

    public func sleep(seconds: Double) async throws {
        guard seconds > 0 else { return }
        try await Task.sleep(for: .nanoseconds(Int64(seconds * 1e9)))
    }
}

/// The system's wall clock.
public struct SystemClock: CacheClock {
    public init() {}

    /// Seconds since the Unix epoch, from `CLOCK_REALTIME`.
    public var now: Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// A clock that only moves when told to (for tests).
public final class ManualClock: CacheClock {
    private let seconds: Locked<Double>

    /// - Parameter now: Seconds since the Unix epoch to start at.
    public init(now: Double) { seconds = Locked(now) }

    /// The time the clock was last set or moved to.
    public var now: Double { seconds.withLock { $0 } }

    /// Sets the time.
    public func set(_ now: Double) { seconds.withLock { $0 = now } }

    /// Moves the time forward by `seconds`.
    public func advance(by seconds: Double) { self.seconds.withLock { $0 += seconds } }

    /// Moves the time forward by `duration`.
    public func advance(by duration: Duration) {
        let (s, a) = duration.components
        advance(by: Double(s) + Double(a) / 1e18)
    }

    /// Waiting on a manual clock moves it forward by `seconds` and returns at once: what waits
    /// on the cache's clock (a throttle) sees the time it waited for pass, and no test hangs.
    public func pause(seconds: Double) {
        if seconds > 0 { advance(by: seconds) }
    }

    /// As ``pause(seconds:)``: moves the clock forward and returns at once.
    public func sleep(seconds: Double) async throws {
        try Task.checkCancellation()
        pause(seconds: seconds)
    }
}

extension CacheClock {
    /// Microseconds since the epoch, as stored on disk.
    var micros: Int64 { Int64((now * 1_000_000).rounded()) }
}

/// An expiry: how long from now an entry stays valid.
public struct Expiry: Sendable, Equatable, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral {
    /// Seconds from now.
    public var seconds: Double

    /// An expiry `seconds` from now.
    public init(seconds: Double) { self.seconds = seconds }
    /// `expire: 10` means ten seconds.
    public init(integerLiteral value: Int) { seconds = Double(value) }
    /// `expire: 0.5` means half a second.
    public init(floatLiteral value: Double) { seconds = value }

    /// An expiry `s` seconds from now.
    public static func seconds(_ s: Double) -> Expiry { Expiry(seconds: s) }
    /// An expiry `d` from now.
    public static func after(_ d: Duration) -> Expiry {
        let (s, a) = d.components
        return Expiry(seconds: Double(s) + Double(a) / 1e18)
    }

    /// The on-disk expire time (µs since the epoch) for an entry stored at `now` (µs), or nil for
    /// "never expires": an expiry too far away for the on-disk time (µs in an Int64, about 292,000
    /// years), infinity included, never expires.
    /// - Throws: `.invalidArgument` for NaN or a negative number of seconds.
    func expireTime(from now: Int64) throws -> Int64? {
        guard seconds >= 0 else {
            throw CaskError(.invalidArgument, "an expiry must be zero or more seconds, not \(seconds)")
        }
        let micros = (seconds * 1_000_000).rounded()
        guard micros < 9.0e18 else { return nil }
        let (time, overflow) = now.addingReportingOverflow(Int64(micros))
        return overflow ? nil : time
    }
}
