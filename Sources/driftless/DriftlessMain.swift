import DriftlessCommands

/// The executable's entry point: the command tree lives in `DriftlessCommands`.
@main
extension Driftless {}
