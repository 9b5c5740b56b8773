#if canImport(Glibc)
import Glibc
#endif

/// How the process's allocator gives memory back, set once at start by `driftless` (and by the
/// benchmarks, which measure what it does).
///
/// glibc serves a block of 128 KiB or more with its own mapping and unmaps it when freed, but it raises
/// that threshold to the size of each such block freed, up to 32 MiB: after the first large plan, the
/// arrays of every later one (steps, observations, indexes over thousands of objects) come from the heap
/// and stay resident between runs, scattered among the long-lived objects. A daemon that plans again and
/// again for a hundred hosts then holds tens of MiB it no longer uses. Fixing the threshold (which also
/// fixes the heap's trim threshold) keeps large blocks in their own mappings, returned as they are freed;
/// the cost is an `mmap` and a `munmap` per large array.
public enum MemoryPolicy {
    /// The size from which a block gets its own mapping.
    public static let largeBlock: Int32 = 128 * 1024

    /// Applies the policy; idempotent. Nothing on a C library without glibc's `mallopt`.
    public static func returnLargeBlocks() {
        #if canImport(Glibc)
        _ = mallopt(mmapThreshold, largeBlock)
        _ = mallopt(trimThreshold, largeBlock)
        #endif
    }

    // malloc.h's M_TRIM_THRESHOLD and M_MMAP_THRESHOLD (not in the Glibc module).
    private static let trimThreshold: Int32 = -1
    private static let mmapThreshold: Int32 = -3
}

#if canImport(Glibc)
/// glibc's `mallopt` (malloc.h is not part of the Glibc module).
@_silgen_name("mallopt")
private func mallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
