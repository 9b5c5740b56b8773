// swift-tools-version:6.0
// The loader's fuzz target, a package of its own so that the main build never sees it: built and run by
// scripts/fuzz.sh with --sanitize=fuzzer --sanitize=address (libFuzzer supplies `main`).
import PackageDescription

let package = Package(
    name: "DriftlessFuzz",
    dependencies: [
        .package(name: "Driftless", path: "../.."),
    ],
    targets: [
        /// libFuzzer's entry point over the loader: one file through YAMLReader and ManifestLoader.
        .executableTarget(
            name: "LoaderFuzzer",
            dependencies: [.product(name: "DriftlessCore", package: "Driftless")],
            path: "LoaderFuzzer"
        ),
    ]
)
