import CGWardenCore

/// What one trigger measured on one group.
struct Measured {
    var holding: Bool
    var value: Measurement
    /// How far the measurement is from the trigger's threshold, as a share of
    /// the threshold: 0.25 is a quarter of the way left, 0 or less holds.
    /// nil where there is no distance (no figure, no history, `oom_kill`).
    var headroom: Double?
}

extension TriggerKind {
    /// The trigger measured on a group's figures (and the node's).
    func measure(_ g: GroupFigures, system: SystemSnapshot, previous: PolicyState.Sample?, now: UInt64) -> Measured {
        switch self {
        case .usageOfLimit(let p, let limit, let count):
            guard let used = count.usage(g) else { return Measured(holding: false, value: .unavailable(count.missing(g))) }
            let l = limit == .max ? g.max : g.high
            guard let lb = l?.bytes else {
                return Measured(holding: false, value: .unavailable(limit == .max ? "no memory.max limit" : "no memory.high limit"))
            }
            let f = lb == 0 ? Double.infinity : Double(used) / Double(lb)
            return Measured(holding: f >= p.fraction, value: .share(used: used, of: lb), headroom: headroom(f, above: p.fraction))
        case .usageAbove(let size, let count):
            guard let used = count.usage(g) else { return Measured(holding: false, value: .unavailable(count.missing(g))) }
            return Measured(holding: used >= size, value: .size(used), headroom: headroom(Double(used), above: Double(size)))
        case .pressure(let level, let window, let p):
            guard let v = psi(g.pressure, level, window) else { return Measured(holding: false, value: .unavailable("no PSI")) }
            return Measured(holding: v >= p.percent, value: .psi(level, window, v, node: false),
                            headroom: headroom(v, above: p.percent))
        case .nodeAvailableBelow(let amount):
            let m = system.meminfo
            let threshold = amount.bytes(of: m.memTotal)
            return Measured(holding: m.memAvailable <= threshold, value: .node("MemAvailable", m.memAvailable, total: m.memTotal),
                            headroom: headroom(Double(m.memAvailable), below: Double(threshold)))
        case .nodeSwapFreeBelow(let amount):
            let m = system.meminfo
            guard m.swapTotal > 0 else { return Measured(holding: false, value: .unavailable("no swap")) }
            let threshold = amount.bytes(of: m.swapTotal)
            return Measured(holding: m.swapFree <= threshold, value: .node("SwapFree", m.swapFree, total: m.swapTotal),
                            headroom: headroom(Double(m.swapFree), below: Double(threshold)))
        case .nodePressure(let level, let window, let p):
            guard let v = psi(system.pressure, level, window) else { return Measured(holding: false, value: .unavailable("no PSI")) }
            return Measured(holding: v >= p.percent, value: .psi(level, window, v, node: true),
                            headroom: headroom(v, above: p.percent))
        case .eventRate(let counter, let perSecond):
            let cur = counter == .max ? g.eventsMax : g.eventsHigh
            guard let cur else { return Measured(holding: false, value: .unavailable("no memory.events")) }
            guard let previous, let prev = counter == .max ? previous.max : previous.high, now > previous.time else {
                return Measured(holding: false, value: .noHistory(counter: counter.rawValue, value: cur))
            }
            let rate = Double(cur >= prev ? cur - prev : 0) / (Double(now - previous.time) / 1e9)
            return Measured(holding: rate >= perSecond, value: .rate(counter, perSecond: rate),
                            headroom: headroom(rate, above: perSecond))
        case .oomKill:
            guard let cur = g.eventsOomKill else { return Measured(holding: false, value: .unavailable("no memory.events")) }
            guard let prev = previous?.oomKill else { return Measured(holding: false, value: .noHistory(counter: "oom_kill", value: cur)) }
            return Measured(holding: cur > prev, value: .change(counter: "oom_kill", from: prev, to: cur))
        }
    }

    /// What to read between two snapshots to tell that the measure of `g`
    /// moved toward the threshold (`NearGroup`): the same figure `measure`
    /// takes, and the threshold in its units. nil for what one reading cannot
    /// tell (an event rate needs two; `oom_kill` has no distance).
    func nearReading(_ g: GroupFigures, system: SystemSnapshot)
        -> (reading: NearGroup.Reading, value: Double, threshold: Double, rising: Bool)? {
        switch self {
        case .usageOfLimit(let p, let limit, let count):
            guard let used = count.usage(g), let lb = (limit == .max ? g.max : g.high)?.bytes else { return nil }
            return (count == .all ? .current : .unreclaimable, Double(used), p.fraction * Double(lb), true)
        case .usageAbove(let size, let count):
            guard let used = count.usage(g) else { return nil }
            return (count == .all ? .current : .unreclaimable, Double(used), Double(size), true)
        case .pressure(let level, let window, let p):
            guard let v = psi(g.pressure, level, window) else { return nil }
            return (.pressure(level, window), v, p.percent, true)
        case .nodeAvailableBelow(let amount):
            let m = system.meminfo
            return (.nodeAvailable, Double(m.memAvailable), Double(amount.bytes(of: m.memTotal)), false)
        case .nodeSwapFreeBelow(let amount):
            let m = system.meminfo
            guard m.swapTotal > 0 else { return nil }
            return (.nodeSwapFree, Double(m.swapFree), Double(amount.bytes(of: m.swapTotal)), false)
        case .nodePressure(let level, let window, let p):
            guard let v = psi(system.pressure, level, window) else { return nil }
            return (.nodePressure(level, window), v, p.percent, true)
        case .eventRate, .oomKill:
            return nil
        }
    }

    /// Measures a group's memory usage (`usage_of_limit`, `usage_above`).
    var isUsage: Bool {
        switch self {
        case .usageOfLimit, .usageAbove: true
        default: false
        }
    }

    /// For the usage triggers, the usage gained since `previous` as a share of
    /// the threshold (a group with no previous figures appeared since the
    /// previous snapshot: from nothing). nil for the other triggers, without a
    /// limit or a figure, and where usage did not grow.
    func usageGrowth(_ g: GroupFigures, previous: PolicyState.Sample?) -> Double? {
        let count: UsageCount
        let threshold: Double
        switch self {
        case .usageOfLimit(let p, let limit, let c):
            guard let lb = (limit == .max ? g.max : g.high)?.bytes else { return nil }
            count = c
            threshold = p.fraction * Double(lb)
        case .usageAbove(let size, let c):
            count = c
            threshold = Double(size)
        default:
            return nil
        }
        guard threshold > 0, threshold.isFinite, let used = count.usage(g) else { return nil }
        var before: UInt64 = 0
        if let previous {
            guard let b = count == .all ? previous.current : previous.unreclaimable else { return nil }
            before = b
        }
        guard used > before else { return nil }
        return Double(used - before) / threshold
    }

    /// Left to a threshold that holds at or above it.
    private func headroom(_ value: Double, above threshold: Double) -> Double? {
        guard threshold > 0, value.isFinite else { return value.isFinite ? nil : 0 }
        return (threshold - value) / threshold
    }

    /// Left to a threshold that holds at or below it (MemAvailable falling).
    private func headroom(_ value: Double, below threshold: Double) -> Double? {
        guard threshold > 0 else { return nil }
        return (value - threshold) / threshold
    }

    private func psi(_ p: Pressure?, _ level: PressureLevel, _ window: PressureWindow) -> Double? {
        p?.value(level, window)
    }
}

extension UsageCount {
    func usage(_ g: GroupFigures) -> UInt64? { self == .all ? g.current : g.unreclaimable }

    func missing(_ g: GroupFigures) -> String {
        !g.hasMemory ? "no memory accounting" : (self == .all ? "no memory.current" : "no memory.stat")
    }
}

extension Pressure {
    /// The average a pressure trigger reads (`some`/`full`, `avg10`/`avg60`).
    public func value(_ level: PressureLevel, _ window: PressureWindow) -> Double? {
        let line = level == .some ? some : full
        return window == .avg10 ? line?.avg10 : line?.avg60
    }
}
