// swift-tools-version: 6.1
// Micro-benchmarks of the engine, as a package of their own so that users of Cask never resolve
// the benchmark framework. Run with `swift package benchmark` in this directory.
import PackageDescription

let package = Package(
    name: "CaskBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Named, because a path dependency is otherwise known by its directory name (any clone name).
        .package(name: "Cask", path: "../"),
        // The interposer trait gives malloc counts per benchmark iteration.
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // Store operations through the public API: get/set/delete by value size, open, compaction.
        .executableTarget(
            name: "StoreBenchmarks",
            dependencies: [
                .product(name: "CaskStore", package: "Cask"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "StoreBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Engine internals through `_Benchmarking`: record encode/decode, CRC, key hash, index.
        .executableTarget(
            name: "FormatBenchmarks",
            dependencies: [
                .product(name: "CaskStore", package: "Cask"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "FormatBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)

for target in package.targets {
    var settings = target.swiftSettings ?? []
    settings.append(.swiftLanguageMode(.v6))
    target.swiftSettings = settings
}
