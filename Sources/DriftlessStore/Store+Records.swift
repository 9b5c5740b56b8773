import DriftlessCore
import GRDB

/// The typed values of the run history and the journal, stored as their text (the values rows always had,
/// so older rows read as they are). A value this version does not know is kept as `.other` rather than
/// failing the read (a newer version's rows stay readable), as GRDB keeps unknown result codes.
extension Store {
    /// What a run was.
    public enum RunKind: Sendable, Hashable {
        case apply
        case drift
        case other(String)
    }

    /// How a run ended.
    public enum RunResult: Sendable, Hashable {
        case succeeded
        case failed
        /// Nothing was changed: invalid, a safety rule, a history rewrite.
        case refused
        /// The process died with the run open (`recoverInterruptedRuns`).
        case interrupted
        /// A drift check that found drift, or none.
        case drifted
        case clean
        case other(String)
    }

    /// A journal line's phase: the applier's phases (`ApplyEvent.Phase`), or one this version does not know.
    public enum StepPhase: Sendable, Hashable {
        case known(ApplyEvent.Phase)
        case other(String)

        public init(_ phase: ApplyEvent.Phase) { self = .known(phase) }

        public static let started = StepPhase(.started)
        public static let retrying = StepPhase(.retrying)
        public static let succeeded = StepPhase(.succeeded)
        public static let failed = StepPhase(.failed)
        public static let skipped = StepPhase(.skipped)

        /// A phase after which the step does nothing more.
        public var isFinal: Bool { Store.finalPhases.contains(rawValue) }
    }
}

extension Store.RunKind: RawRepresentable {
    public init(rawValue: String) {
        self = switch rawValue {
        case "apply": .apply
        case "drift": .drift
        default: .other(rawValue)
        }
    }

    public var rawValue: String {
        switch self {
        case .apply: "apply"
        case .drift: "drift"
        case let .other(value): value
        }
    }
}

extension Store.RunResult: RawRepresentable {
    public init(rawValue: String) {
        self = switch rawValue {
        case "succeeded": .succeeded
        case "failed": .failed
        case "refused": .refused
        case "interrupted": .interrupted
        case "drifted": .drifted
        case "clean": .clean
        default: .other(rawValue)
        }
    }

    public var rawValue: String {
        switch self {
        case .succeeded: "succeeded"
        case .failed: "failed"
        case .refused: "refused"
        case .interrupted: "interrupted"
        case .drifted: "drifted"
        case .clean: "clean"
        case let .other(value): value
        }
    }
}

extension Store.StepPhase: RawRepresentable {
    public init(rawValue: String) {
        self = ApplyEvent.Phase(rawValue: rawValue).map(Self.known) ?? .other(rawValue)
    }

    public var rawValue: String {
        switch self {
        case let .known(phase): phase.rawValue
        case let .other(value): value
        }
    }
}

/// Text in the database and in JSON, a string literal in code.
public protocol StoredText: RawRepresentable, Codable, DatabaseValueConvertible, ExpressibleByStringLiteral,
    CustomStringConvertible where RawValue == String {
    init(rawValue: String)
}

extension StoredText {
    public init(stringLiteral value: String) { self.init(rawValue: value) }
    public init(from decoder: any Decoder) throws { self.init(rawValue: try decoder.singleValueContainer().decode(String.self)) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
    public var description: String { rawValue }
    public var databaseValue: DatabaseValue { rawValue.databaseValue }
    public static func fromDatabaseValue(_ dbValue: DatabaseValue) -> Self? { String.fromDatabaseValue(dbValue).map(Self.init(rawValue:)) }
}

extension Store.RunKind: StoredText {}
extension Store.RunResult: StoredText {}
extension Store.StepPhase: StoredText {}
