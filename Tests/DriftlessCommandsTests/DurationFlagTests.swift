import Foundation
import Testing

@testable import DriftlessCommands

/// Every duration flag is bounded: a value out of range is a usage error naming the flag and the range,
/// never an overflow (`serve --interval 1e300s` used to trap).
@Suite("Duration flags")
struct DurationFlagTests {
    /// A command line and what its usage error must say.
    static let outOfRange: [(arguments: [String], says: String)] = [
        (["serve", "--repo", "/nonexistent", "--interval", "1e300s"], "--interval takes a duration between 1s and 24h"),
        (["serve", "--repo", "/nonexistent", "--interval", "1e300h"], "--interval takes a duration between 1s and 24h"),
        (["serve", "--repo", "/nonexistent", "--interval", "25h"], "--interval takes a duration between 1s and 24h"),
        (["serve", "--repo", "/nonexistent", "--interval", "0s"], "--interval takes a duration between 1s and 24h"),
        (["serve", "--repo", "/nonexistent", "--interval", "999ms"], "--interval takes a duration between 1s and 24h"),
        (["serve", "--repo", "/nonexistent", "--interval=-5s"], "--interval takes a duration between 1s and 24h"),
        (["serve", "--repo", "/nonexistent", "--interval", "infs"], "--interval takes a duration between 1s and 24h"),
        (["serve", "--repo", "/nonexistent", "--interval", "nans"], "--interval takes a duration between 1s and 24h"),
        (["serve", "--repo", "/nonexistent", "--interval", "10"], "--interval takes a duration between 1s and 24h"),
        (["serve", "--repo", "/nonexistent", "--drift-interval", "1e300s"], "--drift-interval takes a duration between 1s and 7d"),
        (["serve", "--repo", "/nonexistent", "--drift-interval", "8d"], "--drift-interval takes a duration between 1s and 7d"),
        (["serve", "--repo", "/nonexistent", "--parallel", "0"], "--parallel takes a number between 1 and 64"),
        (["apply", "--repo", "/nonexistent", "--shutdown-timeout", "9223372036854775807"],
         "--shutdown-timeout takes a number of seconds between 0 and 3600"),
        (["apply", "--repo", "/nonexistent", "--shutdown-timeout=-1"], "--shutdown-timeout takes a number of seconds between 0 and 3600"),
    ]

    @Test(arguments: outOfRange.indices)
    func anOutOfRangeDurationIsAUsageError(_ index: Int) async throws {
        let (arguments, says) = Self.outOfRange[index]
        let output = try await DriftlessBinary.run(arguments + ["--state", NSTemporaryDirectory() + "driftless-duration-\(UUID().uuidString)"])
        #expect(output.status == 64, "\(arguments): \(output.stderr)")
        #expect(output.stderr.contains(says), "\(arguments): \(output.stderr)")
    }

    @Test func durationsInRangeParse() async throws {
        let range: ClosedRange<Duration> = .seconds(1) ... .seconds(86_400)
        let cases: [(String, Duration)] = [
            ("1s", .seconds(1)), ("30s", .seconds(30)), ("1m", .seconds(60)), ("1.5m", .seconds(90)), ("1h", .seconds(3600)),
            ("24h", .seconds(86_400)), ("1d", .seconds(86_400)), ("1500ms", .milliseconds(1500)),
        ]
        for (text, expected) in cases {
            #expect(try DurationFlag.parse(text, flag: "--interval", range: range) == expected, "\(text)")
        }
        #expect(DurationFlag.describe(.seconds(7 * 86_400)) == "7d")
        #expect(DurationFlag.describe(.milliseconds(1500)) == "1500ms")
    }
}
