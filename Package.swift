// swift-tools-version:6.2
import PackageDescription

// SentimentEngineAVX2 is compiled for Haswell's instruction sets on x86-64 (for the plain target elsewhere, where
// SentimentEngine never calls it). Swift has no setting for it but this flag.
#if arch(x86_64)
let haswellFlags = ["-target-cpu", "haswell"]
#else
let haswellFlags: [String] = []
#endif

// Our code compiles without a warning: a new one fails the build (and so `scripts/test.sh` and CI). Set on our own
// targets only; a dependency's warnings are its own and do not stop us.
let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]

// The kernel modules are optimised in debug builds too (release builds are -O anyway), each for the reason next to
// it. Measured (CPU seconds of `swift test --skip-build --filter` over the Engine, Training, Tokenizers and
// Checkpoint test targets, 245 tests; then the daemon's DaemonTraining/DaemonGate/AdapterServing tests): -O on every
// model module 14 s / 4.6 s; on SentimentEngine, SentimentEngineAVX2 and SentimentTraining only (as here) 18-19.5 s
// / 5.2 s; on SentimentEngine and SentimentEngineAVX2 only 22-24 s / 11.9 s. SentimentCheckpoint and
// SentimentTokenizers build without it: 4-5 s more in all is no reason for a flag. These are the only unsafe flags
// left (see ARCHITECTURE.md).
let optimisedInDebug: SwiftSetting = .unsafeFlags(["-O"], .when(configuration: .debug))

let package = Package(
    name: "sentimentd",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "sentimentd", targets: ["sentimentd"]),
        .executable(name: "sentimentctl", targets: ["sentimentctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.34.1"),
    ],
    targets: [
        // System libraries, each behind one Swift file that owns every call into it.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        // Linux process controls Swift's Glibc module does not export (unshare before main, gettid).
        .target(name: "CLinux"),

        // What every other module may import: digests, atomic files, the model-folder layout and manifest, the
        // label-file reader, training settings, JSON values, the product version. It links nothing heavy (no
        // BLAS, no NIO, no SQLite), so sentimentctl shares it instead of keeping copies.
        .target(name: "SentimentCore", dependencies: [.product(name: "Crypto", package: "swift-crypto")],
                swiftSettings: strict),

        // The model stack, dependencies pointing one way:
        //   SentimentCore <- SentimentCheckpoint <- SentimentTokenizers <- SentimentEngine <- SentimentTraining
        // Checkpoint: the files of a model folder (safetensors, PyTorch zip + restricted unpickler, config.json,
        // the parameter-name table), no BLAS. Tokenizers: BPE, WordPiece, the tweet normaliser (it checks ids
        // against config.json). Engine: tensors, kernels, layers, the encoder, loading and writing models, LoRA
        // weights, int8. Training: the trainer and what only it needs. See ARCHITECTURE.md.
        .target(name: "SentimentCheckpoint", dependencies: ["SentimentCore"], swiftSettings: strict),
        .target(name: "SentimentTokenizers", dependencies: ["SentimentCore", "SentimentCheckpoint"],
                swiftSettings: strict),
        // The AVX2 + FMA GEMM kernel for few-row dense layers. Swift has no per-function target attribute, so
        // the code built for Haswell lives alone in this module; SentimentEngine calls it only after checking the
        // CPU.
        // -O: its SIMD code unoptimised is ~100x slower (the MiniLM parity test: 1.3 s optimised, 124 s without).
        .target(name: "SentimentEngineAVX2", swiftSettings: strict + [.unsafeFlags(haswellFlags), optimisedInDebug]),
        // The int8 GEMM of the quantized dense layers: C, each instruction-set path (AVX2, AVX-512 VNNI) in
        // functions with their own target attribute, reached only after a CPU check, and a portable path.
        .target(name: "CInt8Kernels"),
        .target(
            name: "SentimentEngine",
            dependencies: ["SentimentCore", "SentimentCheckpoint", "SentimentTokenizers", "CBLAS",
                           "SentimentEngineAVX2", "CInt8Kernels"],
            // -O (not -Ounchecked: bounds and overflow checks stay): the kernels run every forward and backward pass
            // of the tests; and unoptimised, WorkerPool.run's `withoutActuallyEscaping` check traps (the tests crash
            // in GradientCheckTests), a debug-only failure left for the pool's owner.
            swiftSettings: strict + [optimisedInDebug]
        ),
        .target(
            name: "SentimentTraining",
            dependencies: ["SentimentCore", "SentimentCheckpoint", "SentimentTokenizers", "SentimentEngine"],
            // -O: AdamW, clipping and the training loop's element-wise passes run over every parameter of every step;
            // unoptimised, TrainerTests take 17 s instead of 7 and the daemon's training tests twice the CPU time.
            swiftSettings: strict + [optimisedInDebug]
        ),
        .target(
            name: "SentimentStore",
            dependencies: ["SentimentCore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .target(name: "SentimentProtocol", dependencies: ["SentimentCore"], swiftSettings: strict),
        // Downloads Hugging Face model folders (resumable, checksum-verified, atomic publish).
        .target(name: "SentimentHub", dependencies: ["SentimentCore"], swiftSettings: strict),
        .target(
            name: "SentimentService",
            dependencies: [
                "SentimentCore", "SentimentCheckpoint", "SentimentEngine", "SentimentTraining", "SentimentStore",
                "SentimentProtocol", "CSystemd", "CLinux",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ],
            swiftSettings: strict
        ),
        // The Open Inference Protocol v2 (KServe, Triton's binary tensor extension) and the TF Serving v1 form as
        // bytes in, values out: no NIO, so the request decoders can be fuzzed on their own.
        .target(name: "SentimentOpenInference", dependencies: ["SentimentCore"], swiftSettings: strict),
        // The HTTP front end (Hummingbird 2): listeners (Unix socket, TCP, an activated descriptor), routes, bearer
        // tokens, limits, /metrics and the OpenAPI document.
        .target(
            name: "SentimentHTTP",
            dependencies: [
                "SentimentCore", "SentimentProtocol", "SentimentService", "SentimentOpenInference",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.embedInCode("openapi.yaml")],
            swiftSettings: strict
        ),
        // The benchmarks `sentimentd bench` runs (inference, a training step, int8 accuracy and peak, the daemon
        // through its socket); bench/README.md has the method and the results.
        .target(
            name: "SentimentBench",
            dependencies: ["SentimentCore", "SentimentCheckpoint", "SentimentTokenizers", "SentimentEngine",
                           "SentimentTraining", "SentimentService", "SentimentProtocol", "SentimentHTTP",
                           "SentimentOpenInference"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "sentimentd",
            dependencies: [
                "SentimentCore", "SentimentCheckpoint", "SentimentTokenizers", "SentimentEngine", "SentimentTraining",
                "SentimentService", "SentimentProtocol", "SentimentHTTP", "SentimentOpenInference", "SentimentBench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "sentimentctl",
            dependencies: [
                "SentimentCore", "SentimentProtocol", "SentimentHub",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "SentimentCoreTests", dependencies: ["SentimentCore", "SentimentTestSupport"],
                    swiftSettings: strict),
        // Helpers the model modules' tests share (where Tests/Fixtures is, the parity fixtures' readers, a
        // temporary directory); the fixtures themselves are committed once, in Tests/Fixtures.
        .target(
            name: "SentimentTestSupport",
            dependencies: ["SentimentCore", "SentimentCheckpoint", "SentimentEngine"],
            path: "Tests/SentimentTestSupport",
            swiftSettings: strict
        ),
        .testTarget(
            name: "SentimentCheckpointTests",
            dependencies: ["SentimentCore", "SentimentCheckpoint", "SentimentTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SentimentTokenizersTests",
            dependencies: ["SentimentCore", "SentimentCheckpoint", "SentimentTokenizers", "SentimentTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SentimentEngineTests",
            dependencies: ["SentimentCore", "SentimentCheckpoint", "SentimentTokenizers", "SentimentEngine",
                           "SentimentTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SentimentTrainingTests",
            dependencies: ["SentimentCore", "SentimentCheckpoint", "SentimentTokenizers", "SentimentEngine",
                           "SentimentTraining", "SentimentTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SentimentStoreTests",
            dependencies: ["SentimentCore", "SentimentStore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .testTarget(name: "SentimentOpenInferenceTests", dependencies: ["SentimentCore", "SentimentOpenInference"],
                    swiftSettings: strict),
        .testTarget(name: "SentimentProtocolTests", dependencies: ["SentimentCore", "SentimentProtocol"],
                    swiftSettings: strict),
        .testTarget(
            name: "SentimentHubTests",
            dependencies: [
                "SentimentCore", "SentimentHub", "SentimentTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SentimentServiceTests",
            dependencies: [
                "SentimentCore", "SentimentService", "SentimentProtocol", "SentimentCheckpoint", "SentimentEngine",
                "SentimentTraining", "SentimentStore", "SentimentTestSupport", "SentimentOpenInference",
                // The NOTIFY_SOCKET stand-in of the daemon tests is the bench's (`NotifyListener`).
                "SentimentBench",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v5]
)
