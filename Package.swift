// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Driftless",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "driftless", targets: ["driftless"]),
        .library(name: "DriftlessCore", targets: ["DriftlessCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-async-algorithms", from: "1.1.4"),
    ],
    targets: [
        // System libraries: a bare module map and a one-line shim each.
        .systemLibrary(
            name: "CLibGit2",
            pkgConfig: "libgit2",
            providers: [.apt(["libgit2-dev"])]
        ),
        .systemLibrary(
            name: "CLibvirt",
            pkgConfig: "libvirt",
            providers: [.apt(["libvirt-dev"])]
        ),

        /// The model, validation, diagnostics and (later) plan/apply and driver protocols. No C.
        .target(
            name: "DriftlessCore",
            dependencies: [
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        /// libgit2 adapter: open or fetch a repository and read manifests from a commit's tree.
        .target(
            name: "DriftlessGit",
            dependencies: ["CLibGit2", "DriftlessCore", .product(name: "Crypto", package: "swift-crypto")]
        ),
        /// Image sources: `path:` files opened only under the operator's image directories, `url:` downloads
        /// over a small HTTP/1.1 client (swift-nio, NIOSSL) that connects only to addresses it has checked.
        .target(
            name: "DriftlessFetch",
            dependencies: [
                "DriftlessCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        /// Running other programs (genisoimage, git and tools in tests), through swift-subprocess only.
        .target(
            name: "DriftlessProcess",
            dependencies: [.product(name: "Subprocess", package: "swift-subprocess")]
        ),
        /// libvirt adapter: connections, domains, pools, volumes, streams.
        .target(
            name: "DriftlessLibvirt",
            dependencies: ["CLibvirt", "DriftlessCore", "DriftlessFetch", "DriftlessProcess", .product(name: "Crypto", package: "swift-crypto")]
        ),
        /// Pure Swift OVSDB (RFC 7047) JSON-RPC client.
        .target(
            name: "DriftlessOVSDB",
            dependencies: [
                "DriftlessCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        /// The embedded SQLite store (GRDB): IP allocations, and later run history and the apply journal.
        .target(
            name: "DriftlessStore",
            dependencies: ["DriftlessCore", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Crypto", package: "swift-crypto")]
        ),
        /// The reconciler: reads a commit, observes the hosts through the drivers, plans, applies, records.
        .target(
            name: "DriftlessEngine",
            dependencies: ["DriftlessCore", "DriftlessGit", "DriftlessLibvirt", "DriftlessOVSDB", "DriftlessStore"]
        ),
        /// The Driftless leg of benchmarks/ovs_ports.py: creates and deletes N ports through OVSNetworkDriver.
        .executableTarget(
            name: "DriftlessOVSBench",
            dependencies: ["DriftlessOVSDB", "DriftlessCore"]
        ),
        /// Benchmarks of the libvirt drivers: define+start 20 instances, observe 1,000 managed domains.
        .executableTarget(
            name: "DriftlessLibvirtBench",
            dependencies: ["DriftlessLibvirt", "DriftlessStore", "DriftlessCore", "DriftlessProcess"]
        ),
        /// The dashboard's pages and topology SVG, rendered from plain values (no I/O, no server): what a
        /// user may see is decided before rendering, through the core's access views.
        .target(
            name: "DriftlessDashboard",
            dependencies: ["DriftlessCore"]
        ),
        /// The dashboard's render benchmark: overview and project page over 1,000 instances, the SVG at 500.
        .executableTarget(
            name: "DriftlessDashboardBench",
            dependencies: ["DriftlessDashboard", "DriftlessStore", "DriftlessCore"]
        ),
        /// `driftless serve`: the daemon (poll, webhooks, event-driven drift), its HTTP API and dashboard.
        .target(
            name: "DriftlessServer",
            dependencies: [
                "DriftlessEngine", "DriftlessCore", "DriftlessStore", "DriftlessGit", "DriftlessDashboard",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
            ]
        ),
        /// In-memory drivers for tests and benchmarks (`InMemoryHost`), and a write counter over any drivers.
        .target(
            name: "DriftlessTesting",
            dependencies: ["DriftlessCore", "DriftlessProcess"]
        ),
        /// The no-op plan benchmark: 1,000 managed instances, their ports and volumes (no server: the
        /// daemon's memory is measured on `driftless serve` itself, benchmarks/serve_memory.sh).
        .executableTarget(
            name: "DriftlessReconcileBench",
            dependencies: ["DriftlessEngine", "DriftlessLibvirt", "DriftlessOVSDB", "DriftlessStore", "DriftlessCore", "DriftlessProcess",
                           "DriftlessTesting"]
        ),
        /// The incremental load benchmark: a one-file commit on 1,000 to 10,000 manifests, full and incremental.
        .executableTarget(
            name: "DriftlessLoadBench",
            dependencies: ["DriftlessEngine", "DriftlessGit", "DriftlessCore", "DriftlessProcess"]
        ),
        /// The `driftless` command tree.
        .target(
            name: "DriftlessCommands",
            dependencies: [
                "DriftlessCore",
                "DriftlessGit",
                "DriftlessEngine",
                "DriftlessStore",
                "DriftlessServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        /// `await Driftless.main()` and nothing else.
        .executableTarget(
            name: "driftless",
            dependencies: ["DriftlessCommands", "DriftlessProcess"]
        ),

        .testTarget(name: "DriftlessCoreTests", dependencies: ["DriftlessCore", "DriftlessTesting", "DriftlessProcess", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "DriftlessGitTests", dependencies: ["DriftlessGit", "DriftlessCore", "DriftlessProcess"]),
        .testTarget(name: "DriftlessStoreTests", dependencies: ["DriftlessStore", "DriftlessCore", "DriftlessProcess", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "DriftlessFetchTests", dependencies: ["DriftlessFetch", "DriftlessCore", "DriftlessProcess", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "DriftlessLibvirtTests", dependencies: ["DriftlessLibvirt", "DriftlessFetch", "DriftlessCore", "DriftlessStore", "DriftlessProcess", "DriftlessTesting"]),
        .testTarget(name: "DriftlessOVSDBTests", dependencies: ["DriftlessOVSDB", "DriftlessCore", "DriftlessProcess", "DriftlessTesting",
                                                      .product(name: "NIOCore", package: "swift-nio"),
                                                      .product(name: "NIOEmbedded", package: "swift-nio")]),
        .testTarget(name: "DriftlessEngineTests", dependencies: ["DriftlessEngine", "DriftlessCore", "DriftlessTesting", "DriftlessProcess"]),
        .testTarget(name: "DriftlessServerTests", dependencies: ["DriftlessServer", "DriftlessCore", "DriftlessEngine", "DriftlessTesting", "DriftlessProcess",
                                                       .product(name: "Prometheus", package: "swift-prometheus"),
                                                       .product(name: "Hummingbird", package: "hummingbird"),
                                                       .product(name: "HTTPTypes", package: "swift-http-types")]),
        .testTarget(name: "DriftlessDashboardTests", dependencies: ["DriftlessDashboard", "DriftlessCore"],
                    exclude: ["Snapshots"]),
        .testTarget(
            name: "DriftlessCommandsTests",
            dependencies: ["DriftlessCommands", "DriftlessCore", "DriftlessGit", "DriftlessStore", "DriftlessProcess", "driftless",
                           .product(name: "Crypto", package: "swift-crypto")]
        ),
    ]
)

// One settings loop for every Swift target.
for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .enableUpcomingFeature("ExistentialAny"),
    ]
}
