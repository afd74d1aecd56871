import Cask
import CaskTestSupport
import Foundation
import Testing

/// Copying, importing and repairing through the tool lose nothing a user stored.
@Suite("cask tool: nothing lost at the seams")
struct SeamTests {
    /// Queues and collections keep their bookkeeping in the cache's own namespace; a copy made by
    /// `export | import` must behave like the original.
    @Test func exportImportCopiesQueuesAndCollections() throws {
        let s = Scratch()
        let neverEvicts = CacheSettings(evictionPolicy: EvictionPolicy.none)
        do {
            let cache = try Cache(directory: s.cache, settings: neverEvicts)
            for v in ["one", "two", "three"] { try cache.push(v) }
            let index = try PersistentIndex<String, Int>(cache: cache, name: "scores")
            for (k, v) in [("b", 1), ("a", 2), ("c", 3)] { try index.updateValue(v, forKey: k) }
            let deque = try PersistentDeque<String>(cache: cache, name: "recent")
            try deque.append("x")
            try deque.append("y")
            try deque.prepend("w")
            try cache.close()
        }
        let exported = try Tool.run(["export", s.cache])
        #expect(exported.status == 0, "\(exported.stderr)")
        let copy = s.path + "/copy"
        let imported = try Tool.run(["import", copy], stdin: exported.stdout)
        #expect(imported.status == 0, "\(imported.stderr)")

        let cache = try Cache(directory: copy, settings: neverEvicts)
        defer { try? cache.close() }
        let index = try PersistentIndex<String, Int>(cache: cache, name: "scores")
        #expect(try index.items().map { "\($0.key)=\($0.value)" } == ["b=1", "a=2", "c=3"])
        #expect(try index.count == 3)
        let deque = try PersistentDeque<String>(cache: cache, name: "recent")
        #expect(try deque.elements() == ["w", "x", "y"])
        #expect(try deque.count == 3)
        #expect(try cache.pull(as: String.self)?.value == "one")
        try cache.push("four")
        var rest: [String] = []
        while let item = try cache.pull(as: String.self) { rest.append(item.value) }
        #expect(rest == ["two", "three", "four"])
    }

    /// An internal line is written back byte for byte, and one that is not internal is refused.
    @Test func internalLinesAreValidated() throws {
        let s = Scratch()
        let bad = """
            {"internal": true, "key_raw_base64": "\(Data("plain".utf8).base64EncodedString())", "value_base64": ""}
            {"internal": true, "key": "text", "value_base64": ""}
            {"internal": true, "key_raw_base64": "AHF1ZXVl", "value_base64": "not base64!"}
            {"key": "after", "value": "ok"}

            """
        let r = try Tool.run(["import", s.cache], stdin: Data(bad.utf8))
        #expect(r.status == 5)
        for n in 1...3 { #expect(r.stderr.contains("line \(n):"), "\(r.stderr)") }
        #expect(try Tool.run(["get", s.cache, "after"]).text == "ok")
        #expect(try Tool.run(["keys", s.cache]).text == "after\n")
    }

    /// An expiry too far away to represent never expires; NaN or negative is refused. Never a crash.
    @Test func hugeExpireNeverExpiresAndInvalidOnesAreRefused() throws {
        let s = Scratch()
        let set = try Tool.run(["set", s.cache, "far", "v", "--expire", "1e300"])
        #expect(set.status == 0, "\(set.stderr)")
        let meta = try JSONSerialization.jsonObject(with: try Tool.run(["get", s.cache, "far", "--meta"]).stdout) as? [String: Any]
        #expect(meta?["expire"] is NSNull)
        let input = """
            {"key": "a", "value": "1", "expire": 1e300}
            {"key": "b", "value": "2", "expire": 1e19}
            {"key": "c", "value": "3", "expire": 3600}

            """
        let r = try Tool.run(["import", s.cache], stdin: Data(input.utf8))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try Tool.run(["set", s.cache, "forever", "v", "--expire", "inf"]).status == 0)
        #expect(try Tool.run(["keys", s.cache]).text == "far\na\nb\nc\nforever\n")
        for args in [["--expire", "nan"], ["--expire=-1"], ["--expire", "0"]] {
            let bad = try Tool.run(["set", s.cache, "far", "changed"] + args)
            #expect(bad.status == 2, "\(args): \(bad.status) \(bad.stderr)")
        }
        #expect(try Tool.run(["get", s.cache, "far"]).text == "v")
    }

    /// A key over the engine's limit fails its line only; the lines after it are imported.
    @Test func overlongKeyFailsOnlyItsLine() throws {
        let s = Scratch()
        let longKey = String(repeating: "k", count: 70_000)
        let input = """
            {"key": "first", "value": "1"}
            {"key": "\(longKey)", "value": "2"}
            {"key": "third", "value": "3"}

            """
        let r = try Tool.run(["import", s.cache], stdin: Data(input.utf8))
        #expect(r.status == 5, "\(r.stderr)")
        #expect(r.stderr.contains("line 2:"), "\(r.stderr)")
        #expect(r.stderr.contains("1 of 3 lines failed"), "\(r.stderr)")
        #expect(try Tool.run(["keys", s.cache]).text == "first\nthird\n")
    }

    /// A line of several megabytes arrives in many reads and is stored exactly.
    @Test func longLineImportsExactly() throws {
        let s = Scratch()
        let value = Data((0..<6_000_000).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) })
        let line = "{\"key\": \"big\", \"value_base64\": \"\(value.base64EncodedString())\"}\n{\"key\": \"small\", \"value\": \"s\"}\n"
        let r = try Tool.run(["import", s.cache], stdin: Data(line.utf8))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try Tool.run(["get", s.cache, "big"]).stdout == value)
        #expect(try Tool.run(["get", s.cache, "small"]).text == "s")
    }

    /// `bench --dir` on a cache that holds entries refuses (exit 2) and leaves every entry alone.
    @Test func benchRefusesACacheWithEntries() throws {
        let s = Scratch()
        for i in 0..<5 { try Tool.run(["set", s.cache, "user-\(i)", "v\(i)"]) }
        let r = try Tool.run(["bench", "--dir", s.cache, "--workload", "read-only", "--keys", "2000", "--ops", "1000"])
        #expect(r.status == 2, "\(r.status) \(r.stderr)")
        #expect(r.stderr.contains("5 entries"), "\(r.stderr)")
        #expect(try Tool.run(["keys", s.cache]).text == (0..<5).map { "user-\($0)\n" }.joined())
        // A directory that is not a cache but holds files is refused too; an empty one is used.
        try FileManager.default.createDirectory(atPath: s.path + "/other", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: s.path + "/other/notes.txt", contents: Data("keep".utf8))
        #expect(try Tool.run(["bench", "--dir", s.path + "/other", "--ops", "1000"]).status == 2)
        #expect(FileManager.default.contents(atPath: s.path + "/other/notes.txt") == Data("keep".utf8))
        try FileManager.default.createDirectory(atPath: s.path + "/empty", withIntermediateDirectories: true)
        let ok = try Tool.run(["bench", "--dir", s.path + "/empty", "--ops", "1000"])
        #expect(ok.status == 0, "\(ok.stderr)")
    }

    /// `check --fix` names every key it removed, in text and in JSON.
    @Test func checkFixNamesRemovedKeys() throws {
        let s = Scratch()
        let big = Data(repeating: 7, count: 40_000)
        func damage() throws {
            #expect(try Tool.run(["set", s.cache, "lost one"], stdin: big).status == 0)
            let values = s.cache + "/values"
            let files = (FileManager.default.enumerator(atPath: values)?.allObjects as? [String] ?? []).filter { $0.hasSuffix(".val") }
            #expect(files.count == 1)
            for f in files { try FileManager.default.removeItem(atPath: values + "/" + f) }
        }
        try Tool.run(["set", s.cache, "kept", "v"])
        try damage()
        let text = try Tool.run(["check", s.cache, "--fix"])
        #expect(text.status == 0, "\(text.text)")
        #expect(text.text.contains("removed key          lost one"), "\(text.text)")
        try damage()
        let json = try Tool.run(["check", s.cache, "--fix", "--json"])
        let object = try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any]
        #expect(object?["removed_keys"] as? [String] == ["lost one"], "\(json.text)")
        #expect(try Tool.run(["keys", s.cache]).text == "kept\n")
    }
}
