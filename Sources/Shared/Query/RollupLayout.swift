/// Which part of an hour rollup answers a request, and how its cells map to the request's
/// groups. Exists only for requests rollups can answer: no filter, at most one property and
/// at most one time interval of an hour or longer.
struct RollupLayout {
    let property: Property?
    let interval: StatsInterval?
    /// Where each dimension sits in a key: the property's value or the hour's bucket.
    let order: [Dimension]

    init?(_ request: StatsRequest) {
        guard request.filter == nil, request.identity == .visitor, request.dimensions.count <= 2 else { return nil }
        var property: Property?
        var interval: StatsInterval?
        for dimension in request.dimensions {
            switch dimension {
            case .property(let value):
                guard property == nil else { return nil }
                property = value
            case .time(let value):
                guard interval == nil, value != .minute else { return nil }
                interval = value
            }
        }
        self.property = property
        self.interval = interval
        order = request.dimensions
    }

    /// The stored field to read.
    var field: String { MongoStore.rollupField(property) }

    /// True when the whole hour falls in one bucket of the request's interval (always, but in
    /// zones whose offset is not whole hours).
    func fitsBuckets(_ hour: Int64, _ calendar: SiteCalendar) -> Bool {
        guard let interval else { return true }
        return calendar.bucketStart(of: hour, interval: interval) == calendar.bucketStart(of: hour + MongoStore.hourMillis - 1, interval: interval)
    }

    /// Adds a stored hour's bytes to `cells`; false (and `cells` unchanged) when they do not
    /// decode (the hour is then built again). Throws past `Aggregator.maxGroups` groups.
    func add(_ data: ArraySlice<UInt8>, hour: Int64, calendar: SiteCalendar, into cells: inout RollupCells) throws(QueryError) -> Bool {
        var stored: [(value: ArraySlice<UInt8>, cell: RollupCodec.StoredCell)]
        switch property {
        case nil:
            var reader = ByteReader(data)
            guard let cell = RollupCodec.storedCell(&reader), reader.isAtEnd else { return false }
            stored = [([], cell)]
        case .prop(let key)?:
            guard let table = RollupCodec.propTable(data, key: key) else { return false }
            stored = []
            if !table.isEmpty {
                guard let tableCells = RollupCodec.storedTable(table) else { return false }
                stored = tableCells
            }
        case _?:
            guard let table = RollupCodec.storedTable(data) else { return false }
            stored = table
        }
        try cells.withTable(bucket: bucket(of: hour, calendar)) { table in
            // An hour without events or visits stores an empty totals cell; it makes no group
            // (Plausible answers no row for a group without data).
            for (value, cell) in stored where !cell.isEmpty {
                table[String(decoding: value, as: UTF8.self), default: Cell()].merge(cell)
            }
        }
        return true
    }

    /// Adds a freshly built hour to `cells`.
    func add(_ rollup: HourRollup, calendar: SiteCalendar, into cells: inout RollupCells) throws(QueryError) {
        let table: [String: Cell] =
            switch property {
            case nil: ["": rollup.totals]
            case .prop(let key)?: rollup.props[key] ?? [:]
            case let property?: rollup.tables[property] ?? [:]
            }
        try cells.withTable(bucket: bucket(of: rollup.hour, calendar)) { gathered in
            for (value, cell) in table where !Cell.isEmpty(events: cell.events, visits: cell.visits) {
                gathered[value, default: Cell()].merge(cell)
            }
        }
    }

    /// The start of the request's bucket holding `hour`; 0 (one bucket) without an interval.
    private func bucket(of hour: Int64, _ calendar: SiteCalendar) -> Int64 {
        interval.map { calendar.bucketStart(of: hour, interval: $0) } ?? 0
    }

    /// Adds the cells `gathered` from rollups to the engine's cells, keyed by the request's dimensions.
    func drain(_ gathered: RollupCells, into cells: inout [[DimensionValue]: Cell]) {
        for (bucket, table) in gathered.buckets {
            for (value, cell) in table {
                let key: [DimensionValue] = order.map { dimension in
                    if case .time = dimension { return .time(bucket) }
                    return .text(value)
                }
                cells[key, default: Cell()].merge(cell)
            }
        }
    }
}

/// Cells read from rollups, by bucket and then by value: a stored cell is merged into its
/// group without building a key (or a cell) of its own.
struct RollupCells {
    /// Cells by bucket start (0 when the request has no interval), then by value.
    private(set) var buckets: [Int64: [String: Cell]] = [:]
    /// Groups so far.
    private(set) var count = 0

    /// Lets `body` add to the cells of `bucket`, by value; throws past `Aggregator.maxGroups` groups.
    mutating func withTable(bucket: Int64, _ body: (inout [String: Cell]) -> Void) throws(QueryError) {
        var table = buckets.removeValue(forKey: bucket) ?? [:]
        let before = table.count
        body(&table)
        count += table.count - before
        buckets[bucket] = table
        if count > Aggregator.maxGroups {
            throw QueryError("more than \(Aggregator.maxGroups) groups: narrow the period or group by fewer dimensions")
        }
    }
}

extension HourRollup {
    /// Builds one hour from the visits touching it (see `Aggregator` for the counting rules);
    /// nil when the hour is too varied to keep.
    static func build(hour: Int64, visits: [Visit]) throws(QueryError) -> HourRollup? {
        let range = TimeRange(start: hour, end: hour + MongoStore.hourMillis)
        var rollup = HourRollup(hour: hour)
        var totals: [[DimensionValue]: Cell] = [:]
        try Aggregator(dimensions: [], filter: nil, calendar: .utc).add(visits, range: range, into: &totals)
        rollup.totals = totals[[]] ?? Cell()
        var keys = Set<String>()
        for visit in visits {
            for event in visit.session.events where range.contains(event.timestamp) || !visit.startsBefore {
                keys.formUnion(event.props.keys)
            }
        }
        guard keys.count <= maxPropKeys else { return nil }
        for property in Property.fixed + keys.map(Property.prop) {
            var cells: [[DimensionValue]: Cell] = [:]
            try Aggregator(dimensions: [.property(property)], filter: nil, calendar: .utc).add(visits, range: range, into: &cells)
            guard cells.count <= maxValues else { return nil }
            var table: [String: Cell] = [:]
            for (key, cell) in cells { if case .text(let value)? = key.first { table[value] = cell } }
            if case .prop(let name) = property { rollup.props[name] = table } else { rollup.tables[property] = table }
        }
        return rollup
    }
}
