import Cask
import CaskStore
import Foundation

// The swift blocks of the DocC articles added with the CaskStore catalog: the engine's landing
// page (Sources/CaskStore/CaskStore.docc) and two articles of Sources/Cask/Cask.docc. Compiled, not
// run, like the rest of this target.

/// CaskStore.md, the overview.
func storeOverview() throws {
    var options = StoreOptions()
    options.durability = .interval(.milliseconds(200))
    let store = try Store(directory: "/var/tmp/my-engine", options: options)
    try store.put(Array("greeting".utf8), Array("hello".utf8))
    let claimed = try store.mutate(Array("owner".utf8)) { current -> (Mutation, Bool) in
        current == nil ? (.put(value: Array("worker-3".utf8)), true) : (.keep, false)
    }
    try store.sync()
    keep(claimed)
}

/// SharingACacheBetweenProcesses.md, the overview and "Coordinating work".
func sharingWorkers() throws {
    // The same lines run in every worker process.
    let thumbnails = try Cache(directory: "/var/cache/thumbnails")
    let worker = "worker-\(ProcessInfo.processInfo.processIdentifier)"
    if try thumbnails.add("job:resize:42", worker, expire: 300) {
        // Only one process gets here: the others found the key already stored.
        try thumbnails.set("result:resize:42", [UInt8](repeating: 0, count: 16))
    }

    let nightly = try Lock(cache: thumbnails, name: "nightly-import")
    if let held = try nightly.tryAcquire() {
        defer { held.release() }
        try importAll()   // no other process runs this meanwhile
    }
}

/// SharingACacheBetweenProcesses.md, "Fork".
func reading(_ key: String, from cache: inout Cache) throws -> String? {
    do {
        return try cache.get(key, as: String.self)
    } catch let error as CaskError where error.code == .forked {
        cache = try Cache(directory: cache.directory)   // this process's own handle
        return try cache.get(key, as: String.self)
    }
}

/// DurabilityAndCrashSafety.md, the overview and "Checking and repairing".
func durabilityModes() throws {
    let orders = try Cache(directory: "/var/lib/shop/order-cache",
                           settings: CacheSettings(durability: .always))
    try orders.set("order:1001", "paid")   // on disk when this returns

    let importer = try Cache(directory: "/var/lib/shop/order-cache",
                             settings: CacheSettings(durability: .interval(.seconds(1))),
                             persistSettings: false)
    defer { try? importer.close() }   // close() fsyncs what the interval has not yet covered

    let report = try orders.check()
    if !report.isHealthy {
        print("damaged ranges: \(report.corruptRanges.count), torn bytes: \(report.tornBytes)")
        print("entries whose file is gone: \(report.missingValueFiles.count), orphans: \(report.orphanValueFiles.count)")
        let repaired = try orders.repair(report)
        print("removed \(repaired.removedKeys.count) entries; \(repaired.keptKeys.count) were rewritten meanwhile and kept")
    }
}
