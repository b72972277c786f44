import CGWardenCore
import CGWardenIO
import CGWardenPolicy

extension SnapshotSource {
    /// The one figure of a group near a threshold (`NearGroup.Reading`), read
    /// now through the sampler's descriptors; node-wide figures come from
    /// `node` (read by the caller once per round). nil when it cannot be
    /// read: the group is gone or not of the last snapshot, the file is
    /// absent or did not parse.
    func read(_ reading: NearGroup.Reading, of id: UInt64, node: SystemSnapshot?) -> Double? {
        switch reading {
        case .current:
            return sampler.read(.current, of: id) { try Parse.bytes($0, file: "memory.current") }.map { Double($0) }
        case .unreclaimable:
            return sampler.read(.stat, of: id) { try Parse.memoryStatSummary($0) }.map { Double(MemoryState.unreclaimable($0)) }
        case .pressure(let level, let window):
            return sampler.read(.pressure, of: id) { try Parse.pressure($0) }.flatMap { $0.value(level, window) }
        case .nodeAvailable:
            return node.map { Double($0.meminfo.memAvailable) }
        case .nodeSwapFree:
            return node.map { Double($0.meminfo.swapFree) }
        case .nodePressure(let level, let window):
            return node?.pressure.flatMap { $0.value(level, window) }
        }
    }
}
