import Foundation
import Testing

/// `cask --generate-completion-script` (ArgumentParser's) for the shells README documents.
@Suite("Shell completion")
struct CompletionTests {
    static let subcommands = ["set", "get", "delete", "keys", "stats", "evict", "expire", "clear", "compact", "check",
                              "import", "export", "bench"]

    @Test func bashScriptCompletesEverySubcommand() throws {
        let r = try Tool.run(["--generate-completion-script", "bash"])
        #expect(r.status == 0, "\(r.stderr)")
        let script = r.text
        #expect(script.hasPrefix("#!/bin/bash"))
        #expect(script.contains("complete ") && script.contains(" cask"), "registers a completion for cask")
        // The top-level word list offers every subcommand.
        let words = Set(script.split(whereSeparator: { " \n\t'\"()=".contains($0) }).map(String.init))
        for name in Self.subcommands { #expect(words.contains(name), "\(name)") }
        #expect(script.contains("--compare") && script.contains("--raw"), "bench's options complete too")
    }

    @Test(arguments: ["zsh", "fish"])
    func otherShellsGetAScriptToo(shell: String) throws {
        let r = try Tool.run(["--generate-completion-script", shell])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.text.contains("bench") && r.text.contains("compact"))
    }
}
