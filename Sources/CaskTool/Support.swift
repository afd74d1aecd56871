import ArgumentParser
import Cask
import Foundation

enum ExitCode {
    static let notFound: Int32 = 1
    static let usage: Int32 = 2
    static let notACache: Int32 = 3
    static let failure: Int32 = 4
    static let partial: Int32 = 5

    static func `for`(_ error: CaskError) -> Int32 {
        switch error.code {
        case .notFound: notFound
        case .invalidArgument: usage
        case .notACache, .corrupted, .unsupportedVersion: notACache
        default: failure
        }
    }
}

/// A failure the tool reports with a specific exit code.
struct ToolFailure: Error {
    var message: String
    var code: Int32
}

enum Console {
    static func error(_ message: String) {
        FileHandle.standardError.write(Data(("cask: " + message + "\n").utf8))
    }

    static var stderrIsTTY: Bool { isatty(2) == 1 }

    /// A one-line progress indicator on stderr, only when stderr is a terminal.
    static func progress(_ text: String) {
        guard stderrIsTTY else { return }
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + text).utf8))
    }

    static func endProgress() {
        guard stderrIsTTY else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }

    static func writeOut(_ bytes: [UInt8]) {
        FileHandle.standardOutput.write(Data(bytes))
    }
}

/// Options shared by every command that opens a cache.
struct CacheLocation: ParsableArguments {
    @Argument(help: "The cache directory.")
    var dir: String

    @Option(help: "Number of shards, used only when the cache is created.")
    var shards: Int?

    @Option(help: ArgumentHelp("A shared tier behind the cache: redis://[[user]:password@]host[:port][/db], redis-cluster://host:port[,host:port…] (rediss://, rediss-cluster:// for TLS; ?ca=PATH), or s3://bucket[/prefix][?endpoint=URL&timeout=SECONDS] (credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).",
                               discussion: "get fills a local miss from it, set and delete go to both; other commands work on the local cache.",
                               valueName: "url"))
    var shared: String?

    func validate() throws {
        if let shards, !(1...256).contains(shards) { throw ValidationError("--shards must be 1...256") }
    }

    /// Opens the cache. Commands that only read or maintain refuse a directory that is not a cache
    /// (exit 3) instead of creating one.
    /// `sizeLimit` (bytes), when given, becomes the cache's stored size limit.
    func open(create: Bool = false, durability: CacheDurability? = nil, sizeLimit: Int? = nil) throws -> Cache {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory)
        if !create {
            guard exists, isDirectory.boolValue else {
                throw CaskError(.notACache, "no cache directory here", path: dir)
            }
            guard FileManager.default.fileExists(atPath: dir + "/cask.meta") else {
                throw CaskError(.notACache, "the directory is not a Cask cache (no cask.meta)", path: dir)
            }
        }
        do {
            if durability != nil {
                // A one-off durability mode applies to this run only, never to the stored settings.
                return try Cache(directory: dir, settings: CacheSettings(shards: shards, durability: durability), persistSettings: false)
            }
            return try Cache(directory: dir, settings: CacheSettings(shards: shards, sizeLimit: sizeLimit),
                             persistSettings: shards != nil || sizeLimit != nil)
        } catch let error as CaskError {
            throw ReadOnlyMedium.explain(error, directory: dir) ?? error
        }
    }
}

/// `--sync never|interval|always` (interval: fsync at most every 100 ms).
enum SyncChoice: String, ExpressibleByArgument, CaseIterable {
    case never, interval, always

    /// The mode for a `Cache`.
    var durability: CacheDurability {
        switch self {
        case .never: .none
        case .interval: .interval(.milliseconds(100))
        case .always: .always
        }
    }
}

/// Reads all of standard input (binary-safe).
func readStandardInput() -> [UInt8] {
    [UInt8](FileHandle.standardInput.readDataToEndOfFile())
}

/// JSON text for a value that may not be representable (non-finite doubles become null).
func jsonString(_ object: Any) -> String {
    guard JSONSerialization.isValidJSONObject(object),
          let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
        return "null"
    }
    return String(decoding: data, as: UTF8.self)
}
