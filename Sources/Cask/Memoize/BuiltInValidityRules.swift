import CaskStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// ``ValidityPolicy/expires(after:)``: no witness, the computed-at time is enough.
struct TimeToLiveRule: MicrosecondHorizon {
    let micros: Int64
    var witnessName: String { "cask.ttl" }

    func horizon(computedAt: Int64) -> Int64 {
        let (end, overflow) = computedAt.addingReportingOverflow(micros)
        return overflow ? (micros < 0 ? Int64.min : Int64.max) : end
    }
}

/// ``ValidityPolicy/calendarPeriod(_:in:)``: no witness either.
struct CalendarPeriodRule: MicrosecondHorizon {
    let period: CalendarPeriod
    let timeZone: TimeZone
    var witnessName: String { "cask.period" }

    func horizon(computedAt: Int64) -> Int64 { period.end(after: computedAt, in: timeZone) }
}

/// ``ValidityPolicy/sourceFiles(_:contentHash:)``: the witness is the JSON array of the paths'
/// ``FileFingerprint``s (sorted keys). Results stored before witnesses had names (envelope
/// "CKM1") hold one such array for all the function's files; either way a result holds while
/// every current fingerprint of this rule's paths is in the stored array.
struct SourceFilesRule: ValidityRule {
    static let namePrefix = "cask.files"
    let paths: [String]
    let contentHash: Bool

    var witnessName: String {
        let encoder = JSONEncoder()
        let list = (try? encoder.encode(paths)).map { String(decoding: $0, as: UTF8.self) } ?? "\(paths)"
        return Self.namePrefix + (contentHash ? "+crc" : "") + list
    }

    func witness(_ context: ValidityContext) throws -> [UInt8]? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try Array(encoder.encode(current()))
    }

    func isValid(witness: [UInt8]?, _ context: ValidityContext) throws -> Bool {
        guard let witness, let stored = try? JSONDecoder().decode([FileFingerprint].self, from: Data(witness)) else { return false }
        return current().allSatisfy { stored.contains($0) }
    }

    func current() -> [FileFingerprint] { paths.map { FileFingerprint(path: $0, contentHash: contentHash) } }
}

/// ``ValidityPolicy/custom(_:)``: judges the entry's metadata, no witness.
struct CustomRule: ValidityRule {
    let isValid: @Sendable (MemoEntryInfo) -> Bool
    var witnessName: String { "cask.custom" }

    func isValid(witness: [UInt8]?, _ context: ValidityContext) throws -> Bool {
        guard let entry = context.entry else { return false }
        return isValid(entry)
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
