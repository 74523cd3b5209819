/// One group of an engine answer: its dimension values and its cell.
public typealias StatsRow = (key: [DimensionValue], cell: Cell)

/// One key of a result order: a metric's value or a dimension's value, either way.
public struct StatsOrder: Sendable, Equatable {
    /// What is compared.
    public enum Key: Sendable, Equatable {
        /// A metric's value.
        case metric(Metric)
        /// The value of the dimension at this index of the request's dimensions.
        case dimension(Int)
    }

    /// What is compared.
    public var key: Key
    /// Smallest first when true.
    public var ascending: Bool

    /// An order by `key`.
    public init(_ key: Key, ascending: Bool) {
        self.key = key
        self.ascending = ascending
    }
}

/// What the front ends do with the engine's rows: order, page, fill time series and compare.
public enum StatsRows {
    /// `rows` ordered by `order`, then by every dimension ascending, so equal rows always come
    /// out in the same order (pages never overlap). Metric values are computed once per row.
    public static func sorted(_ rows: [StatsRow], by order: [StatsOrder]) -> [StatsRow] {
        let metrics = order.compactMap { entry -> Metric? in
            if case .metric(let metric) = entry.key { return metric }
            return nil
        }
        let values = rows.map { row in metrics.map { row.cell.value($0) } }
        let indices = rows.indices.sorted { left, right in
            var metricIndex = 0
            for entry in order {
                let comparison: Int
                switch entry.key {
                case .metric:
                    comparison = compare(values[left][metricIndex], values[right][metricIndex])
                    metricIndex += 1
                case .dimension(let index):
                    comparison = compare(rows[left].key, rows[right].key, at: index)
                }
                if comparison != 0 { return entry.ascending ? comparison < 0 : comparison > 0 }
            }
            for index in 0..<max(rows[left].key.count, rows[right].key.count) {
                let comparison = compare(rows[left].key, rows[right].key, at: index)
                if comparison != 0 { return comparison < 0 }
            }
            return left < right
        }
        return indices.map { rows[$0] }
    }

    /// The rows from `offset`, at most `limit` of them; none past the end.
    public static func page(_ rows: [StatsRow], offset: Int, limit: Int) -> [StatsRow] {
        guard offset >= 0, limit > 0, offset < rows.count else { return [] }
        let end = offset + min(limit, rows.count - offset)
        return Array(rows[offset..<end])
    }

    /// A row per bucket start, in `starts`' order: the engine's cell where it has one, an empty
    /// cell (every metric 0) where no event fell. Rows keyed by no start in `starts` are dropped.
    public static func filled(_ rows: [StatsRow], bucketStarts starts: [Int64]) -> [StatsRow] {
        var cells: [Int64: Cell] = [:]
        for row in rows {
            guard case .time(let start)? = row.key.first else { continue }
            cells[start, default: Cell()].merge(row.cell)
        }
        return starts.map { ([.time($0)], cells[$0] ?? Cell()) }
    }

    /// The rows without those whose dimension at `index` is an empty text: Plausible's v1
    /// breakdowns leave out visits without a country, UTM value, entry or exit page.
    public static func droppingEmpty(_ rows: [StatsRow], at index: Int) -> [StatsRow] {
        rows.filter { row in
            guard index < row.key.count, case .text(let text) = row.key[index] else { return true }
            return !text.isEmpty
        }
    }

    private static func compare(_ left: Double, _ right: Double) -> Int {
        left < right ? -1 : (left > right ? 1 : 0)
    }

    private static func compare(_ left: [DimensionValue], _ right: [DimensionValue], at index: Int) -> Int {
        switch (index < left.count ? left[index] : nil, index < right.count ? right[index] : nil) {
        case (.text(let a)?, .text(let b)?): a < b ? -1 : (a > b ? 1 : 0)
        case (.time(let a)?, .time(let b)?): a < b ? -1 : (a > b ? 1 : 0)
        case (.text?, .time?), (nil, _?): -1
        case (.time?, .text?), (_?, nil): 1
        case (nil, nil): 0
        }
    }
}

/// `compare=previous_period`: the change of each metric as Plausible computes it.
public enum StatsComparison {
    /// The change from `previous` to `current`: bounce rate in percentage points (nil when the
    /// previous period had none); every other metric in percent, rounded, 100 from nothing to
    /// something and 0 from nothing to nothing.
    public static func change(_ metric: Metric, previous: Double, current: Double) -> Int? {
        if metric == .bounceRate {
            return previous > 0 ? StatsJSON.whole(current - previous) : nil
        }
        if previous == 0 { return current > 0 ? 100 : 0 }
        return StatsJSON.whole((current - previous) / previous * 100)
    }
}

/// How metric values and dimension values are written in answers.
public enum StatsJSON {
    /// `metric`'s value of `cell` as Plausible writes it: a float for views per visit, a whole
    /// number for every other metric (rates and durations are already rounded).
    public static func value(_ metric: Metric, of cell: Cell) -> JSONValue {
        number(metric, cell.value(metric))
    }

    /// `value` of `metric` as Plausible writes it.
    public static func number(_ metric: Metric, _ value: Double) -> JSONValue {
        metric == .viewsPerVisit ? .double(value.isFinite ? value : 0) : .int(whole(value))
    }

    /// `value` rounded half away from zero; 0 for NaN, clamped to `Int`'s range.
    public static func whole(_ value: Double) -> Int {
        guard value.isFinite else { return 0 }
        let rounded = value.rounded()
        if rounded >= 9.2e18 { return Int.max }
        if rounded <= -9.2e18 { return Int.min }
        return Int(rounded)
    }

    /// The text of a property value as Plausible shows it: a visit attribute nobody set is
    /// `(not set)`; pages, names, hostnames and custom properties are shown as they are.
    public static func text(_ value: String, of property: Property) -> String {
        guard value.isEmpty, !property.isEventScoped, property != .entryPage, property != .exitPage else { return value }
        return "(not set)"
    }
}
