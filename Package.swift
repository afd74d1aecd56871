// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Cask",
    products: [
        .library(name: "CaskStore", targets: ["CaskStore"]),
    ],
    targets: [
        // C shims: system zlib (CRC-32, later compression) and C11 atomics on shared mmapped memory.
        .target(
            name: "CCaskSupport",
            linkerSettings: [.linkedLibrary("z")]
        ),
        // Bytes-level storage engine: sharded append-only logs, in-memory index, recovery, compaction.
        .target(
            name: "CaskStore",
            dependencies: ["CCaskSupport"]
        ),
        // Child process used by multi-process tests (writes/reads a store on command).
        .executableTarget(
            name: "cask-test-worker",
            dependencies: ["CaskStore"],
            path: "Sources/CaskTestWorker"
        ),
        .testTarget(
            name: "CaskStoreTests",
            dependencies: ["CaskStore", "cask-test-worker"]
        ),
    ]
)

for target in package.targets where target.type != .system {
    guard target.name != "CCaskSupport" else { continue }
    var settings = target.swiftSettings ?? []
    settings.append(.swiftLanguageMode(.v6))
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    target.swiftSettings = settings
}
