import ArgumentParser
import Cask
import Foundation

/// One JSON Lines record of `import`/`export`:
/// `{"key": "k", "value": "text"}` or `{"key": "k", "value_base64": "..."}`, optional `"tag"`,
/// `"expire"` (seconds from now) and `"type"` (string, integer, double, coded; bytes when absent).
/// A key that is not a string is written as `"key_raw_base64"` (its canonical bytes).
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Store JSON Lines from standard input (exit 5 if some lines failed).")
    @OptionGroup var location: CacheLocation
    @Option(help: "Durability of the writes: never, interval, always.") var sync: SyncChoice = .never
    @Flag(help: "Print each key once its write is acknowledged (stdout is flushed after each).") var ack = false

    /// The longest line `import` reads (bytes, newline excluded); a longer one fails on its own.
    /// 256 MiB holds a value of about 190 MiB in base64; store larger ones with `cask set`.
    static let maxLineLength = 256 << 20

    func run() throws {
        let cache = try location.open(create: true, durability: sync.durability)
        var failed = 0
        var done = 0
        var lineNumber = 0
        var splitter = LineSplitter(maxLineLength: Self.maxLineLength)
        let input = FileHandle.standardInput
        func handle(_ line: LineSplitter.Line) throws {
            lineNumber += 1
            do {
                guard case .text(let text) = line else {
                    throw LineError(message: "line longer than the maximum of \(Self.maxLineLength) bytes")
                }
                guard !text.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) else { return }
                let parsed = try parseLine(Data(text))
                do {
                    try store(parsed, in: cache)
                } catch let e as CaskError where e.code == .invalidArgument {
                    // Bad input of this line only (a key, tag or value over a limit): skip it.
                    throw LineError(message: e.description)
                }
                done += 1
                if ack {
                    FileHandle.standardOutput.write(Data((parsed.display + "\n").utf8))
                }
                if done % 10_000 == 0 { Console.progress("imported \(done) lines") }
            } catch let e as LineError {
                failed += 1
                Console.error("line \(lineNumber): \(e.message)")
            } catch {
                Console.endProgress()
                Console.error("line \(lineNumber): stopped; \(done) lines stored before it")
                throw error
            }
        }
        while true {
            let chunk = input.availableData
            if chunk.isEmpty { break }
            try splitter.feed([UInt8](chunk), handle)
        }
        try splitter.finish(handle)
        Console.endProgress()
        try cache.close()
        if failed > 0 {
            throw ToolFailure(message: "\(failed) of \(lineNumber) lines failed; \(done) stored", code: ExitCode.partial)
        }
    }

    struct LineError: Error { var message: String }

    /// One parsed line: what to store, and the key as `--ack` prints it.
    struct ImportLine {
        var key: [UInt8]
        var display: String
        var value: StoredValue
        var expire: Expiry?
        var tag: String?
    }

    func store(_ line: ImportLine, in cache: Cache) throws {
        try cache.setStored(rawKey: line.key, line.value, expire: line.expire, tag: line.tag)
    }

    func parseLine(_ data: Data) throws -> ImportLine {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw LineError(message: "not a JSON object")
        }
        let key: [UInt8]
        let display: String
        if let k = object["key"] as? String {
            key = k.cacheKeyBytes
            display = k
        } else if let raw = object["key_raw_base64"] as? String, let bytes = Data(base64Encoded: raw), !bytes.isEmpty {
            key = [UInt8](bytes)
            display = StoredKey(bytes: key).description
        } else {
            throw LineError(message: "missing \"key\" (a string)")
        }
        var bytes: [UInt8]
        if let v = object["value"] as? String {
            bytes = Array(v.utf8)
        } else if let v = object["value_base64"] as? String {
            guard let d = Data(base64Encoded: v) else { throw LineError(message: "\"value_base64\" is not base64") }
            bytes = [UInt8](d)
        } else {
            throw LineError(message: "missing \"value\" or \"value_base64\"")
        }
        let value: StoredValue
        switch object["type"] as? String ?? "bytes" {
        case "bytes": value = .bytes(bytes)
        case "string":
            guard let s = String(validating: bytes, as: UTF8.self) else { throw LineError(message: "string value is not UTF-8") }
            value = .string(s)
        case "integer":
            guard let n = Int64(String(decoding: bytes, as: UTF8.self)) else { throw LineError(message: "integer value is not a number") }
            value = .integer(n)
        case "double":
            guard let d = Double(String(decoding: bytes, as: UTF8.self)) else { throw LineError(message: "double value is not a number") }
            value = .double(d)
        case "coded": value = .coded(bytes)
        case let other: throw LineError(message: "unknown \"type\" \(other)")
        }
        var expire: Expiry?
        if let e = object["expire"] {
            // Too far away to represent (past the Int64 µs range): never expires, as in the API.
            guard let seconds = (e as? NSNumber)?.doubleValue, seconds > 0 else {
                throw LineError(message: "\"expire\" must be a positive number of seconds")
            }
            expire = Expiry(seconds: seconds)
        }
        var tag: String?
        if let t = object["tag"] {
            guard let s = t as? String else { throw LineError(message: "\"tag\" must be a string") }
            tag = s
        }
        return ImportLine(key: key, display: display, value: value, expire: expire, tag: tag)
    }
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write the live entries as JSON Lines (the format import reads).")
    @OptionGroup var location: CacheLocation

    func run() throws {
        let cache = try location.open()
        let now = Date().timeIntervalSince1970
        var out = ""
        for entry in try cache.store.listEntries() where entry.key.first != 0 {
            guard let stored = try cache.storedValue(rawKey: entry.key) else { continue }
            var object: [String: Any] = [:]
            if case .string(let s) = StoredKey(bytes: entry.key) {
                object["key"] = s
            } else {
                object["key_raw_base64"] = Data(entry.key).base64EncodedString()
            }
            let bytes = stored.value.renderedBytes
            if let text = String(validating: bytes, as: UTF8.self) {
                object["value"] = text
            } else {
                object["value_base64"] = Data(bytes).base64EncodedString()
            }
            if stored.value.typeName != "bytes" { object["type"] = stored.value.typeName }
            if let t = stored.tag { object["tag"] = t }
            if let e = stored.expireTime { object["expire"] = max(0.001, e - now) }
            out += jsonString(object) + "\n"
            if out.utf8.count > 1 << 16 {
                Console.writeOut(Array(out.utf8))
                out = ""
            }
        }
        Console.writeOut(Array(out.utf8))
    }
}
