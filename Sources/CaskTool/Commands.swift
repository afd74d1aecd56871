import ArgumentParser
import Cask
import Foundation

struct SetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set", abstract: "Store a value (from the argument, else from standard input, binary-safe).")
    @OptionGroup var location: CacheLocation
    @Argument(help: "The key (a string).") var key: String
    @Argument(help: "The value; read from standard input when omitted.") var value: String?
    // `.unconditional`: the word after --expire is its value even when it starts with a dash, so
    // `--expire -5` reaches validate() and gets the rule it breaks, not "Missing value".
    @Option(parsing: .unconditional, help: "Seconds until the entry expires (more than about 292,000 years, or inf: never).")
    var expire: Double?
    @Option(help: "A tag for the entry.") var tag: String?
    @Flag(help: "Make the write durable (fsync) before returning.") var sync = false

    func validate() throws {
        if let expire, !(expire > 0) { throw ValidationError("--expire must be a positive number of seconds") }
    }

    func run() throws {
        let cache = try location.open(create: true, durability: sync ? .always : nil)
        let tier = try location.openSharedTier(cache)
        let bytes = value.map { Array($0.utf8) } ?? readStandardInput()
        try cache.set(key, bytes, expire: expire.map(Expiry.init(seconds:)), tag: tag)
        tier?.publish(rawKey: key.cacheKeyBytes)
        try cache.close()
    }
}

struct GetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Print a value's bytes to standard output (exit 1 if missing or expired).")
    @OptionGroup var location: CacheLocation
    @Argument(help: "The key (a string).") var key: String
    @Flag(help: "Print JSON with the expire time, tag, size and type instead of the value.") var meta = false

    func run() throws {
        let cache = try location.open()
        let tier = try location.openSharedTier(cache)
        var found = try cache.storedValue(key)
        if found == nil, let tier, tier.fill(rawKey: key.cacheKeyBytes) { found = try cache.storedValue(key) }
        guard let entry = found else {
            throw ToolFailure(message: "\(key): not found", code: ExitCode.notFound)
        }
        if meta {
            var object: [String: Any] = ["key": key, "size": entry.value.renderedBytes.count, "type": entry.value.typeName,
                                         "stored": entry.storeTime]
            object["expire"] = entry.expireTime ?? NSNull()
            object["tag"] = entry.tag ?? NSNull()
            print(jsonString(object))
        } else {
            Console.writeOut(entry.value.renderedBytes)
        }
    }
}

struct DeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a key (exit 1 if it was not there).")
    @OptionGroup var location: CacheLocation
    @Argument(help: "The key (a string).") var key: String

    func run() throws {
        let cache = try location.open()
        let tier = try location.openSharedTier(cache)
        let local = try cache.delete(key)
        let remote = tier?.remove(rawKey: key.cacheKeyBytes) ?? false
        guard local || remote else { throw ToolFailure(message: "\(key): not found", code: ExitCode.notFound) }
    }
}

struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "keys", abstract: "List the live keys, one per line, oldest stored first.")
    @OptionGroup var location: CacheLocation
    @Option(help: "Only keys with this tag.") var tag: String?

    func run() throws {
        let cache = try location.open()
        let keys = try tag.map { try cache.keys(tag: $0) } ?? cache.keys()
        var out = ""
        for k in keys {
            out += k.description
            out += "\n"
            if out.utf8.count > 1 << 16 {
                Console.writeOut(Array(out.utf8))
                out = ""
            }
        }
        Console.writeOut(Array(out.utf8))
    }
}

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "Show counts, sizes and counters.")
    @OptionGroup var location: CacheLocation
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let cache = try location.open()
        _ = try location.openSharedTier(cache)   // validates --shared; the counters are the directory's
        let s = try cache.stats()
        let c = cache.configuration
        if json {
            let shards: [[String: Any]] = s.shards.map {
                ["shard": $0.shard, "count": $0.count, "live_bytes": $0.liveBytes, "dead_bytes": $0.deadBytes,
                 "log_bytes": $0.logBytes, "value_file_bytes": $0.valueFileBytes, "segments": $0.segments]
            }
            print(jsonString([
                "count": s.count, "volume": s.volume, "hits": s.hits, "misses": s.misses, "evictions": s.evictions,
                "expirations": s.expirations, "shards": shards, "size_limit": c.sizeLimit,
                "eviction_policy": c.evictionPolicy.rawValue, "statistics": c.statistics,
                "shared_hits": s.sharedHits, "shared_misses": s.sharedMisses, "shared_errors": s.sharedErrors,
            ] as [String: Any]))
            return
        }
        print("count        \(s.count)")
        print("volume       \(s.volume) bytes")
        print("live bytes   \(s.shards.reduce(0) { $0 + $1.liveBytes + $1.valueFileBytes })")
        print("dead bytes   \(s.shards.reduce(0) { $0 + $1.deadBytes })")
        print("hits         \(s.hits)\(c.statistics ? "" : " (statistics off)")")
        print("misses       \(s.misses)")
        print("evictions    \(s.evictions)")
        print("expirations  \(s.expirations)")
        print("shared tier  \(s.sharedHits) hits, \(s.sharedMisses) misses, \(s.sharedErrors) errors")
        print("size limit   \(c.sizeLimit) bytes, policy \(c.evictionPolicy.rawValue)")
        print("shards       \(s.shards.count)")
        for sh in s.shards {
            print("  shard \(sh.shard): \(sh.count) entries, \(sh.liveBytes) live / \(sh.deadBytes) dead bytes, "
                  + "\(sh.valueFileBytes) in value files, \(sh.segments) segments")
        }
    }
}

struct EvictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "evict", abstract: "Remove every entry with a tag; prints how many.")
    @OptionGroup var location: CacheLocation
    @Option(help: "The tag.") var tag: String

    func run() throws {
        let cache = try location.open()
        let tier = try location.openSharedTier(cache)
        print(try cache.evict(tag: tag))
        if let tier { try reportShared(tier.removeTagged(tag)) }
    }
}

struct ExpireCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "expire", abstract: "Remove expired entries; prints how many.")
    @OptionGroup var location: CacheLocation

    func run() throws { print(try location.open().expire()) }
}

struct ClearCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "clear", abstract: "Remove every entry; prints how many.")
    @OptionGroup var location: CacheLocation

    func run() throws {
        let cache = try location.open()
        let tier = try location.openSharedTier(cache)
        print(try cache.clear())
        if let tier { try reportShared(tier.removeAll()) }
    }
}

struct CompactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "compact", abstract: "Rewrite every shard's live records now.")
    @OptionGroup var location: CacheLocation

    func run() throws {
        let cache = try location.open()
        Console.progress("compacting \(cache.store.shardCount) shards...")
        let results = try cache.compact()
        Console.endProgress()
        let before = results.reduce(0) { $0 + $1.bytesBefore }
        let after = results.reduce(0) { $0 + $1.bytesAfter }
        print("compacted \(results.count) shards: \(before) -> \(after) bytes, \(results.reduce(0) { $0 + $1.recordsCopied }) records kept")
    }
}

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Verify records, index and value files; exit 0 only when healthy.")
    @OptionGroup var location: CacheLocation
    @Flag(help: "Repair what can be repaired, keeping every undamaged record; names every key removed.") var fix = false
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let cache = try location.open()
        Console.progress("checking...")
        let opened = cache.store.recoveryReport
        let r = try cache.check(fix: fix)
        Console.endProgress()
        let truncated = opened.truncatedBytes
        if json {
            print(jsonString([
                "healthy": r.isHealthy, "repaired": r.repaired, "records_scanned": r.recordsScanned,
                "corrupt_ranges": r.corruptRanges.map(\.description), "torn_bytes": r.tornBytes,
                "truncated_at_open": truncated, "missing_value_files": r.missingValueFiles,
                "size_mismatches": r.sizeMismatches, "orphan_value_files": r.orphanValueFiles,
                "count_mismatches": r.countMismatches, "removed_keys": r.removedKeys.map(\.description),
                "kept_keys": r.keptKeys.map(\.description),
            ] as [String: Any]))
        } else {
            print("records scanned      \(r.recordsScanned)")
            print("corrupt ranges       \(r.corruptRanges.count)")
            for c in r.corruptRanges { print("  \(c)") }
            print("torn bytes           \(r.tornBytes) (truncated at open: \(truncated))")
            print("missing value files  \(r.missingValueFiles.count)")
            print("size mismatches      \(r.sizeMismatches.count)")
            print("orphan value files   \(r.orphanValueFiles.count)")
            print("count mismatches     \(r.countMismatches)")
            // Every entry the repair removed, and every flagged one rewritten since (kept).
            for k in r.removedKeys { print("removed key          \(k)") }
            for k in r.keptKeys { print("kept (rewritten)     \(k)") }
            print(r.isHealthy ? (r.repaired ? "repaired: healthy" : "healthy") : "damaged: run `cask check --fix`")
        }
        if !r.isHealthy { throw ToolFailure(message: "the cache is damaged", code: ExitCode.notACache) }
    }
}
