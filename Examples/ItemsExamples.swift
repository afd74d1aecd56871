import Cask

// README.md, "Items with their metadata, and keys".

/// README, "Items with their metadata, and keys".
func readmeItemsWithMetadata() throws {
    let cache = try Cache(directory: "/var/tmp/reports-cache")
    struct Report: Codable { var id: Int; var title: String }

    if let popped = try cache.popEntry("report:42", as: Report.self) {
        let expires = popped.expireTime.map { "at \($0)" } ?? "never"   // seconds since the epoch
        print(popped.value.title, expires, popped.tag ?? "-")
    }
    try cache.push("job-1", prefix: "jobs", expire: .after(.seconds(600)), tag: "nightly")
    if let job = try cache.pullEntry(prefix: "jobs", as: String.self) {
        print(job.key, job.value, job.tag ?? "-")          // jobs-500000000000000 job-1 nightly
    }
    let newest = try cache.peekItem(as: Report.self)        // the newest entry, decoded (.typeMismatch if not a Report)
    let oldest = try cache.peekItem(last: false)            // the oldest, as stored: .string, .integer, .bytes, .coded…

    // Listed keys pass straight back to get and delete.
    for key in try cache.keys() {
        if case .string(let name) = key, name.hasPrefix("tmp:") { try cache.delete(key) }
    }
    keep(newest, oldest)
}
