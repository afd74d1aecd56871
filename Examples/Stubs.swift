import Cask
import Foundation

// Stand-ins for the application code the snippets call, so that they compile as written.

struct DailyReport: Codable, Sendable { var region: String }
func buildReport(_ region: String) throws -> DailyReport { DailyReport(region: region) }

struct Customer: Codable, Sendable { var id: Int }
struct CustomerAPI: Sendable {
    func customer(_ id: Int) async throws -> Customer { Customer(id: id) }
}
let api = CustomerAPI()

struct ParseJob: Sendable { var path: String; var delimiter: Character }
func parseCSV(_ job: ParseJob) throws -> [[String]] {
    try String(contentsOfFile: job.path, encoding: .utf8).split(separator: "\n").map {
        $0.split(separator: job.delimiter).map(String.init)
    }
}

struct Job: Codable, Sendable { var id: Int }
func importAll() throws {}
func train() throws {}
func lookUp(_ address: String) throws -> String { address }
func runMigration(_ version: Int) throws {}
func consume(_ chunk: [UInt8]) {}
func fetchQuote(_ symbol: String) async throws -> Double { 1 }

/// Marks the snippets' results as used (the build allows no warnings).
func keep(_ values: Any?...) {}

/// Stand-ins for "Rules of your own".
func schemaVersion() -> Int { 7 }
func loadRows(_ table: String) throws -> [String] { [table] }
