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
/// Every time is read from the cache's clock (``CacheClock``), so tests move it with a
/// ``ManualClock``. See <doc:ChoosingAValidityPolicy>.
public struct ValidityPolicy: Sendable {
    enum Rule: Sendable {
        case ttl(Int64)
        case period(CalendarPeriod, TimeZone)
        case files([String], contentHash: Bool)
        case custom(@Sendable (MemoEntryInfo) -> Bool)
    }

    let rule: Rule

    /// Valid for `duration` after the result was computed. A result whose computed-at time is
    /// later than now (the clock was moved back) is not valid.
    public static func expires(after duration: Duration) -> ValidityPolicy {
        // A duration too long for µs in an Int64 saturates: the result never expires by time.
        let (s, a) = duration.components
        let (micros, o1) = s.multipliedReportingOverflow(by: 1_000_000)
        let (total, o2) = micros.addingReportingOverflow(a / 1_000_000_000_000)
        let ttl = o1 || o2 ? (s < 0 ? Int64.min : Int64.max) : total
        return ValidityPolicy(rule: .ttl(ttl))
    }

    /// Valid until the end of the calendar period (day, hour, week) in which it was computed, in
    /// `timeZone`: a result computed at 09:00 with `.day` is served all day and recomputed by the
    /// first call of the next day. Weeks start on Monday (ISO 8601). A result computed in a later
    /// period than now (the clock was moved back) is not valid.
    public static func calendarPeriod(_ period: CalendarPeriod, in timeZone: TimeZone) -> ValidityPolicy {
        ValidityPolicy(rule: .period(period, timeZone))
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
        ValidityPolicy(rule: .files(paths, contentHash: contentHash))
    }

    /// Valid while `isValid` returns true for the stored entry's metadata.
    public static func custom(_ isValid: @escaping @Sendable (MemoEntryInfo) -> Bool) -> ValidityPolicy {
        ValidityPolicy(rule: .custom(isValid))
    }

    /// The time (µs) at which a result computed at `computedAt` stops being valid by this policy,
    /// if the policy is a matter of time alone.
    func horizon(computedAt: Int64) -> Int64? {
        switch rule {
        case .ttl(let d):
            let (end, overflow) = computedAt.addingReportingOverflow(d)
            return overflow ? (d < 0 ? Int64.min : Int64.max) : end
        case .period(let p, let tz): return p.end(after: computedAt, in: tz)
        case .files, .custom: return nil
        }
    }

    /// True while the policy holds at `now` (µs).
    func holds(_ info: MemoEntryInfo, fingerprints: [UInt8], now: Int64) -> Bool {
        switch rule {
        case .ttl, .period:
            let computedAt = Int64((info.computedAt * 1e6).rounded())
            guard let end = horizon(computedAt: computedAt) else { return true }
            // A result computed "in the future" (the clock was moved back) belongs to another
            // period: it is not valid now.
            return computedAt <= now && now < end
        case .files(let paths, let hash):
            guard let stored = try? JSONDecoder().decode([FileFingerprint].self, from: Data(fingerprints)) else { return false }
            let current = paths.map { FileFingerprint(path: $0, contentHash: hash) }
            // Only the fingerprints of this policy's paths are compared (several policies may list files).
            return current.allSatisfy { c in stored.contains(c) }
        case .custom(let isValid):
            return isValid(info)
        }
    }
}

/// A calendar period for ``ValidityPolicy/calendarPeriod(_:in:)``.
public enum CalendarPeriod: Sendable, Equatable {
    case hour, day, week

    /// The end (µs) of the period containing `micros`, in `timeZone`.
    func end(after micros: Int64, in timeZone: TimeZone) -> Int64 {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        calendar.firstWeekday = 2
        calendar.minimumDaysInFirstWeek = 4
        let date = Date(timeIntervalSince1970: Double(micros) / 1e6)
        let component: Calendar.Component = switch self {
        case .hour: .hour
        case .day: .day
        case .week: .weekOfYear
        }
        guard let interval = calendar.dateInterval(of: component, for: date) else {
            // Not expected for the Gregorian calendar; fall back to fixed lengths in UTC.
            let length: Int64 = switch self {
            case .hour: 3_600_000_000
            case .day: 86_400_000_000
            case .week: 604_800_000_000
            }
            return (micros / length + 1) * length
        }
        return Int64((interval.end.timeIntervalSince1970 * 1e6).rounded())
    }
}
