import ArgumentParser

struct CaskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cask", abstract: "Inspect and benchmark Cask cache directories.", subcommands: [BenchCommand.self])
}
CaskCommand.main()
