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

    /// Adds a stored hour's bytes to `cells`; false when they do not decode (the hour is then
    /// built again). Throws past `Aggregator.maxGroups` groups.
    func add(_ data: ArraySlice<UInt8>, hour: Int64, calendar: SiteCalendar, into cells: inout [[DimensionValue]: Cell]) throws(QueryError) -> Bool {
        switch property {
        case nil:
            guard let cell = RollupCodec.cell(from: data) else { return false }
            merge(["": cell], hour: hour, calendar: calendar, into: &cells)
        case .prop(let key)?:
            guard let props = RollupCodec.props(from: data) else { return false }
            merge(props[key] ?? [:], hour: hour, calendar: calendar, into: &cells)
        case let property?:
            guard let table = RollupCodec.table(from: data) else { return false }
            merge(table, hour: hour, calendar: calendar, into: &cells)
            _ = property
        }
        if cells.count > Aggregator.maxGroups {
            throw QueryError("more than \(Aggregator.maxGroups) groups: narrow the period or group by fewer dimensions")
        }
        return true
    }

    /// Adds a freshly built hour to `cells`.
    func add(_ rollup: HourRollup, calendar: SiteCalendar, into cells: inout [[DimensionValue]: Cell]) throws(QueryError) {
        switch property {
        case nil: merge(["": rollup.totals], hour: rollup.hour, calendar: calendar, into: &cells)
        case .prop(let key)?: merge(rollup.props[key] ?? [:], hour: rollup.hour, calendar: calendar, into: &cells)
        case let property?: merge(rollup.tables[property] ?? [:], hour: rollup.hour, calendar: calendar, into: &cells)
        }
        if cells.count > Aggregator.maxGroups {
            throw QueryError("more than \(Aggregator.maxGroups) groups: narrow the period or group by fewer dimensions")
        }
    }

    private func merge(_ table: [String: Cell], hour: Int64, calendar: SiteCalendar, into cells: inout [[DimensionValue]: Cell]) {
        let bucket = interval.map { DimensionValue.time(calendar.bucketStart(of: hour, interval: $0)) }
        // An hour without events or visits stores an empty totals cell; it makes no group
        // (Plausible answers no row for a group without data).
        for (value, cell) in table where cell.events > 0 || cell.visits > 0 {
            let key: [DimensionValue] = order.map { dimension in
                if case .time = dimension { return bucket ?? .time(hour) }
                return .text(value)
            }
            cells[key, default: Cell()].merge(cell)
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
