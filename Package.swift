// swift-tools-version: 6.1
import PackageDescription

// CASK_WITHOUT_REMOTE=1 leaves out CaskRemote (and `cask fetch`, and its tests) with its package
// dependencies: the sanitizer builds set it, since building SwiftNIO, async-http-client and
// BoringSSL under ASan or TSan takes far longer than the project itself.
let withRemote = Context.environment["CASK_WITHOUT_REMOTE"] == nil

let package = Package(
    name: "Cask",
    // `Atomic` (Synchronization) and `Duration` need macOS 15 / iOS 18. Linux: Swift 6.1.
    platforms: [.macOS(.v15), .iOS(.v18)],
    products: [
        .library(name: "Cask", targets: ["Cask"]),
        .library(name: "CaskStore", targets: ["CaskStore"]),
        .executable(name: "cask", targets: ["cask"]),
    ] + (withRemote ? [.library(name: "CaskRemote", targets: ["CaskRemote"])] : []),
    dependencies: [
        // Only the command-line tool uses it; the library modules depend on no package.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ] + (withRemote ? [
        // Only CaskRemote (and the tool, through it) uses these: HTTP client and HMAC/SHA-256 for SigV4.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // TLS for rediss:// (async-http-client already builds on it).
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ] : []),
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
            ] + (withRemote ? ["CaskRemote"] : []),
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
        // Every swift block of README.md and the DocC articles, verbatim, compiled (.ci/check-snippets).
        .executableTarget(
            name: "cask-examples",
            dependencies: ["Cask", "CaskStore"] + (withRemote ? ["CaskRemote"] : []),
            path: "Examples"
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
            dependencies: ["Cask", "CaskTestSupport", "cask"]
        ),
        .testTarget(
            name: "CaskStoreTests",
            dependencies: ["CaskStore", "Cask", "CaskBench", "CaskTestSupport", "cask-test-worker", "cask"]
        ),
    ]
)

if withRemote {
    package.targets += [
        // Remote sources: HTTP(S) and S3 objects kept as fresh local copies in a cache (revalidation, SigV4).
        .target(
            name: "CaskRemote",
            dependencies: [
                "Cask",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // Child process of the shared-tier tests (a "machine": its own cache directory and tier).
        .executableTarget(
            name: "cask-remote-worker",
            dependencies: ["Cask", "CaskRemote"],
            path: "Sources/CaskRemoteWorker"
        ),
        // Remote sources against servers the tests start on loopback (Servers/: a Python origin
        // server, and SeaweedFS's S3 gateway when `weed` is installed).
        .testTarget(
            name: "CaskRemoteTests",
            dependencies: [
                "CaskRemote", "CaskTestSupport", "cask", "cask-remote-worker",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            exclude: ["Servers"]
        )
    ]
}

for target in package.targets where target.type != .system {
    guard target.name != "CCaskSupport" else { continue }
    var settings = target.swiftSettings ?? []
    settings.append(.swiftLanguageMode(.v6))
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    target.swiftSettings = settings
}
