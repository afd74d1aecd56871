import Cask
import Foundation
import Testing

/// The repository's root, found from this file's path (Tests/CaskToolTests/PackagingTests.swift).
private let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

private func repositoryFile(_ name: String) throws -> String {
    try String(contentsOf: repositoryRoot.appendingPathComponent(name), encoding: .utf8)
}

@Suite("Packaging: version, changelog, license, install")
struct PackagingTests {
    @Test func versionIsSemantic() {
        let parts = CaskVersion.current.split(separator: ".", omittingEmptySubsequences: false)
        #expect(parts.count == 3 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) },
                "\(CaskVersion.current)")
    }

    @Test func toolPrintsTheLibraryVersion() throws {
        let result = try Tool.run(["--version"])
        #expect(result.status == 0)
        #expect(result.text == CaskVersion.current + "\n")
    }

    @Test func changelogStartsWithTheCurrentVersion() throws {
        let changelog = try repositoryFile("CHANGELOG.md")
        let first = changelog.split(separator: "\n").first { $0.hasPrefix("## ") }
        #expect(first?.hasPrefix("## \(CaskVersion.current) ") == true, "\(first ?? "no version heading")")
    }

    @Test func licenseIsApache2() throws {
        let license = try repositoryFile("LICENSE")
        #expect(license.contains("Apache License"))
        #expect(license.contains("Version 2.0, January 2004"))
        #expect(license.contains("END OF TERMS AND CONDITIONS"))
    }

    /// README's "Install" manifest excerpt asks for the current version of a product that exists.
    @Test func readmeInstallNamesTheCurrentVersionAndARealProduct() throws {
        let readme = try repositoryFile("README.md")
        let install = try #require(readme.range(of: "\n## Install\n"))
        let rest = readme[install.upperBound...]
        let section = rest[..<(rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex)]
        #expect(section.contains(#"from: "\#(CaskVersion.current)")"#), "\(section)")
        let manifest = try repositoryFile("Package.swift")
        for product in ["Cask"] {
            #expect(section.contains(#".product(name: "\#(product)", package: "cask")"#))
            #expect(manifest.contains(#".library(name: "\#(product)""#))
        }
        #expect(section.contains("cask --version"))
    }
}
