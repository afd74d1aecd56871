import ArgumentParser
import Cask
import Foundation

/// Stores JSON Lines (the format of `JSONLine`) from standard input.
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
        let tier = try location.openSharedTier(cache)
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
                let parsed = try JSONLine(parsing: Data(text))
                do {
                    try parsed.store(in: cache)
                    if case .entry(let key, _) = parsed.content { tier?.publish(rawKey: key) }
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
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write the live entries as JSON Lines (the format import reads), the cache's own records included.")
    @OptionGroup var location: CacheLocation

    func run() throws {
        let cache = try location.open()
        let now = Date().timeIntervalSince1970
        var out = ""
        for entry in try cache.store.listEntries() {
            guard let line = try JSONLine(exporting: entry.key, from: cache) else { continue }
            out += line.rendered(now: now) + "\n"
            if out.utf8.count > 1 << 16 {
                Console.writeOut(Array(out.utf8))
                out = ""
            }
        }
        Console.writeOut(Array(out.utf8))
    }
}
