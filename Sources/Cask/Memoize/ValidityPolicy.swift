import CaskStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A condition a memoized result must meet each time it is served. A function's policies compose:
/// a result is served only while all of them hold; otherwise the call computes it again.
///
/// ```swift
/// let report = cache.memoize(name: "daily-report", validity: [.calendarPeriod(.day, in: paris)]) {
///     (day: String) in try buildReport(day)
/// }
/// ```
///
/// Every policy is a ``ValidityRule``: just before the function runs, the rule takes a *witness*
/// (bytes: a file's size and time, an object's ETag — or nothing, for a rule of time alone) that
/// is stored with the result; each later call hands the witness back to the rule, which says
/// whether the result still holds. The built-in policies below are rules of this kind, remote
/// objects (`CaskRemote`) are another, and ``init(_:)`` takes one of your own.
///
/// Every time is read from the cache's clock (``CacheClock``), so tests move it with a
/// ``ManualClock``. See <doc:ChoosingAValidityPolicy>.
public struct ValidityPolicy: Sendable {
    let rule: any ValidityRule

    /// A policy of your own rule.
    public init(_ rule: some ValidityRule) { self.rule = rule }

    /// Valid for `duration` after the result was computed. A result whose computed-at time is
    /// later than now (the clock was moved back) is not valid.
    public static func expires(after duration: Duration) -> ValidityPolicy {
        // A duration too long for µs in an Int64 saturates: the result never expires by time.
        let (s, a) = duration.components
        let (micros, o1) = s.multipliedReportingOverflow(by: 1_000_000)
        let (total, o2) = micros.addingReportingOverflow(a / 1_000_000_000_000)
        let ttl = o1 || o2 ? (s < 0 ? Int64.min : Int64.max) : total
        return ValidityPolicy(TimeToLiveRule(micros: ttl))
    }

    /// Valid until the end of the calendar period (day, hour, week) in which it was computed, in
    /// `timeZone`: a result computed at 09:00 with `.day` is served all day and recomputed by the
    /// first call of the next day. Weeks start on Monday (ISO 8601). A result computed in a later
    /// period than now (the clock was moved back) is not valid.
    public static func calendarPeriod(_ period: CalendarPeriod, in timeZone: TimeZone) -> ValidityPolicy {
        ValidityPolicy(CalendarPeriodRule(period: period, timeZone: timeZone))
    }

    /// Valid while the listed files and directories are unchanged: same size, modification time
    /// and inode (a directory: the same for every entry beneath it), and with `contentHash` the
    /// same CRC-32 of the contents. A file that is missing, or appears, is a change. Replacing a
    /// file by renaming another over it is a change (new inode) even with identical contents.
    ///
    /// Symbolic links are followed, listed directly or found inside a listed directory: what counts
    /// is the target (a linked directory is walked; a link back into the tree is not walked again,
    /// and a dangling link counts as the link itself).
    ///
    /// Without `contentHash`, a rewrite of the same size within the file system's timestamp
    /// granularity (a few milliseconds on Linux) is not noticed; with it, every hit reads the files.
    public static func sourceFiles(_ paths: [String], contentHash: Bool = false) -> ValidityPolicy {
        ValidityPolicy(SourceFilesRule(paths: paths, contentHash: contentHash))
    }

    /// Valid while `isValid` returns true for the stored entry's metadata.
    public static func custom(_ isValid: @escaping @Sendable (MemoEntryInfo) -> Bool) -> ValidityPolicy {
        ValidityPolicy(CustomRule(isValid: isValid))
    }

    /// The time (µs) at which a result computed at `computedAt` stops being valid by this policy,
    /// if the policy is a matter of time alone.
    func horizon(computedAt: Int64) -> Int64? {
        if let exact = rule as? any MicrosecondHorizon { return exact.horizon(computedAt: computedAt) }
        guard let end = rule.validUntil(computedAt: Double(computedAt) / 1e6), end.isFinite else { return nil }
        let micros = (end * 1e6).rounded()
        return micros >= 9.2e18 ? .max : micros <= -9.2e18 ? .min : Int64(micros)
    }
}

/// One kind of validity: what a ``ValidityPolicy`` consists of. Implement it for a policy of your
/// own and pass `ValidityPolicy(yourRule)` (an example: <doc:ChoosingAValidityPolicy>, "Rules of
/// your own").
///
/// A memoized function calls ``witness(_:)`` once before each computation (so a change during the
/// computation invalidates the result at the next call) and stores the bytes with the result;
/// every later call passes them to ``isValid(witness:_:)``. Errors either throws reach the caller
/// of the memoized function.
public protocol ValidityRule: Sendable {
    /// Names the witness among the function's other rules' (distinct rules of one function need
    /// distinct names: put the rule's parameters in it). Stored in the cache in clear.
    var witnessName: String { get }

    /// What the rule needs to judge the result later, taken just before the function runs; nil
    /// stores nothing (a rule of time alone).
    func witness(_ context: ValidityContext) throws -> [UInt8]?

    /// Whether the stored result may be served: `witness` is what ``witness(_:)`` returned when it
    /// was computed (nil when it returned nil, or for a result stored before this rule was used).
    func isValid(witness: [UInt8]?, _ context: ValidityContext) throws -> Bool

    /// When a result computed at `computedAt` (seconds since the epoch) stops being valid by time
    /// alone, if it does: the record's expiry and early recomputation use it. Default nil.
    func validUntil(computedAt: Double) -> Double?
}

extension ValidityRule {
    public func witness(_ context: ValidityContext) throws -> [UInt8]? { nil }
    public func validUntil(computedAt: Double) -> Double? { nil }
}

/// What a ``ValidityRule`` is told when it takes or checks a witness.
public struct ValidityContext: Sendable {
    /// The stored result's metadata while checking; nil while taking a witness.
    public let entry: MemoEntryInfo?
    let nowMicros: Int64
    let computedAtMicros: Int64

    /// Now, by the cache's clock (seconds since the epoch).
    public var now: Double { Double(nowMicros) / 1e6 }

    init(now: Int64, entry: MemoEntryInfo? = nil, computedAt: Int64? = nil) {
        nowMicros = now
        self.entry = entry
        computedAtMicros = computedAt ?? now
    }
}

/// A built-in rule of time alone, computed in exact microseconds.
protocol MicrosecondHorizon: ValidityRule {
    func horizon(computedAt: Int64) -> Int64
}

extension MicrosecondHorizon {
    public func validUntil(computedAt: Double) -> Double? {
        Double(horizon(computedAt: Int64((computedAt * 1e6).rounded()))) / 1e6
    }

    public func isValid(witness: [UInt8]?, _ context: ValidityContext) throws -> Bool {
        // A result computed "in the future" (the clock was moved back) belongs to another period:
        // it is not valid now.
        context.computedAtMicros <= context.nowMicros && context.nowMicros < horizon(computedAt: context.computedAtMicros)
    }
}
