import DriftlessCommands
import DriftlessProcess

/// The executable's entry point: the allocator's policy (`MemoryPolicy`), then the command tree, which
/// lives in `DriftlessCommands`.
@main
enum DriftlessMain {
    static func main() async {
        MemoryPolicy.returnLargeBlocks()
        await Driftless.main()
    }
}
