import ArgumentParser
import Foundation

struct CaskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cask", abstract: "Inspect and benchmark Cask cache directories.", subcommands: [BenchCommand.self])
}

/// Usage errors (unknown option, bad value, failed validation) exit with 2, as command-line tools
/// conventionally do; failures while running exit with 1 and say what failed.
do {
    var command = try CaskCommand.parseAsRoot()
    try command.run()
} catch {
    if CaskCommand.exitCode(for: error) == .validationFailure {
        FileHandle.standardError.write(Data((CaskCommand.fullMessage(for: error) + "\n").utf8))
        exit(2)
    }
    CaskCommand.exit(withError: error)
}
