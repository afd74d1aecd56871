// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Cask",
    products: [
        .library(name: "Cask", targets: ["Cask"]),
        .library(name: "CaskStore", targets: ["CaskStore"]),
        .executable(name: "cask", targets: ["cask"]),
    ],
    dependencies: [
        // Only the command-line tool uses it; the library modules depend on no package.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
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
        // The typed cache users embed: keys, values, expiry, tags, eviction, value files, compression.
        .target(
            name: "Cask",
            dependencies: ["CaskStore", "CCaskSupport"]
        ),
        // Benchmark workloads and latency statistics behind `cask bench` (tested on their own).
        .target(
            name: "CaskBench",
            dependencies: ["Cask", "CaskStore", "CCaskSupport"]
        ),
        // The `cask` command-line tool: inspect, edit, check, compact and benchmark a cache directory.
        .executableTarget(
            name: "cask",
            dependencies: [
                "Cask",
                "CaskStore",
                "CaskBench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/CaskTool"
        ),
        // Child process used by multi-process tests (writes/reads a store on command).
        .executableTarget(
            name: "cask-test-worker",
            dependencies: ["CaskStore", "Cask"],
            path: "Sources/CaskTestWorker"
        ),
        // Child process used by the recipe tests (locks, semaphores, throttles, memoize across processes).
        .executableTarget(
            name: "cask-recipe-worker",
            dependencies: ["Cask"],
            path: "Sources/CaskRecipeWorker"
        ),
        // Memoized release-build benchmark: hit and miss overhead of a memoized call.
        .executableTarget(
            name: "cask-memo-bench",
            dependencies: ["Cask", "CaskBench"],
            path: "Sources/CaskMemoBench"
        ),
        .testTarget(
            name: "CaskRecipeTests",
            dependencies: ["Cask", "CaskTestSupport", "cask-recipe-worker"]
        ),
        // Helpers shared by the test targets.
        .target(
            name: "CaskTestSupport",
            dependencies: ["Cask"],
            path: "Tests/CaskTestSupport"
        ),
        .testTarget(
            name: "CaskTests",
            dependencies: ["Cask", "CaskBench", "CaskTestSupport", "cask-test-worker"],
            // The hit-ratio tests read the trace by path (relative to their source file).
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "CaskToolTests",
            dependencies: ["CaskTestSupport", "cask"]
        ),
        .testTarget(
            name: "CaskStoreTests",
            dependencies: ["CaskStore", "Cask", "CaskBench", "CaskTestSupport", "cask-test-worker", "cask"]
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
