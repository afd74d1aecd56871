// The `cask` command-line tool. Exit codes: 0 success; 1 not found; 2 usage error; 3 not a cache
// or damaged beyond what the command handles; 4 other failures (I/O, permissions, disk full);
// 5 `import` finished but some lines failed.
import ArgumentParser
import Cask
import Foundation

struct CaskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cask",
        abstract: "Inspect, edit, check, compact and benchmark Cask cache directories.",
        version: CaskVersion.current,
        subcommands: [SetCommand.self, GetCommand.self, DeleteCommand.self, KeysCommand.self, StatsCommand.self,
                      EvictCommand.self, ExpireCommand.self, ClearCommand.self, CompactCommand.self, CheckCommand.self,
                      ImportCommand.self, ExportCommand.self, BenchCommand.self] + remoteCommands)
}

#if canImport(CaskRemote)
let remoteCommands: [any ParsableCommand.Type] = [FetchCommand.self]
#else
let remoteCommands: [any ParsableCommand.Type] = []
#endif

do {
    var command = try CaskCommand.parseAsRoot()
    try command.run()
    exit(0)
} catch let error as CaskError {
    Console.error(error.description)
    exit(ExitCode.for(error))
} catch let failure as ToolFailure {
    Console.error(failure.message)
    exit(failure.code)
} catch {
    let code = CaskCommand.exitCode(for: error)
    if code == .success {
        print(CaskCommand.fullMessage(for: error))
        exit(0)
    }
    Console.error(CaskCommand.fullMessage(for: error))
    // Every parsing or validation problem is a usage error.
    exit(code == .validationFailure || code.rawValue == 64 ? ExitCode.usage : ExitCode.failure)
}
