// swift-tools-version:6.0
import PackageDescription

// SentimentMLAVX2 is compiled for Haswell's instruction sets on x86-64 (for the plain target elsewhere, where
// SentimentML never calls it).
#if arch(x86_64)
let haswellFlags = ["-target-cpu", "haswell"]
#else
let haswellFlags: [String] = []
#endif

let package = Package(
    name: "sentimentd",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "sentimentd", targets: ["sentimentd"]),
        .executable(name: "sentimentctl", targets: ["sentimentctl"]),
        .library(name: "SentimentML", targets: ["SentimentML"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.24.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        // System libraries, each behind one Swift file that owns every call into it.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),

        // The AVX2 + FMA GEMM kernel for few-row dense layers. Swift has no per-function target attribute, so
        // the code built for Haswell lives alone in this module; SentimentML calls it only after checking the CPU.
        .target(name: "SentimentMLAVX2", swiftSettings: [.unsafeFlags(["-O"] + haswellFlags)]),
        .target(
            name: "SentimentML",
            dependencies: ["CBLAS", "SentimentMLAVX2"],
            // Optimised in debug builds too: the tests run real forward/backward passes. -O (not
            // -Ounchecked) keeps bounds and overflow checks, which the checkpoint parsers rely on.
            swiftSettings: [.unsafeFlags(["-O"])]
        ),
        .target(
            name: "SentimentStore",
            dependencies: [.product(name: "GRDB", package: "GRDB.swift")]
        ),
        .target(name: "SentimentProtocol"),
        // Downloads Hugging Face model folders (resumable, checksum-verified, atomic publish).
        .target(name: "SentimentHub", swiftSettings: [.unsafeFlags(["-O"])]),
        .target(
            name: "SentimentService",
            dependencies: [
                "SentimentML", "SentimentStore", "SentimentProtocol", "CSystemd",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]
        ),
        .executableTarget(
            name: "sentimentd",
            dependencies: [
                "SentimentService", "SentimentML",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "sentimentctl",
            dependencies: [
                "SentimentProtocol", "SentimentHub",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "SentimentMLTests",
            dependencies: ["SentimentML"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "SentimentStoreTests", dependencies: ["SentimentStore"]),
        .testTarget(name: "SentimentProtocolTests", dependencies: ["SentimentProtocol"]),
        .testTarget(
            name: "SentimentHubTests",
            dependencies: [
                "SentimentHub",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "SentimentServiceTests",
            dependencies: ["SentimentService", "SentimentProtocol", "SentimentML"]
        ),
    ],
    swiftLanguageModes: [.v5]
)
