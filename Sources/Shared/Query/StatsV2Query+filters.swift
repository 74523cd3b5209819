extension StatsV2Query {
    /// Reads `filters`: a list of `[operator, dimension, clauses]` conditions and `and`/`or`/`not`
    /// trees, joined by and. Returns the filter and the list as sent (for `query.filters`).
    static func filters(_ value: StatsQueryJSON?) throws(StatsAPIError) -> (Filter?, [JSONValue]) {
        guard let value else { return (nil, []) }
        guard let items = value.array else { throw StatsAPIError("#/filters: Invalid filters passed.") }
        var reader = FilterReader()
        var parts: [Filter] = []
        for (index, item) in items.enumerated() {
            parts.append(try reader.filter(item, path: "#/filters/\(index)", depth: 1))
        }
        let filter: Filter? = switch parts.count {
        case 0: nil
        case 1: parts.first
        default: .and(parts)
        }
        if let filter {
            let size = filter.size
            guard size.conditions <= Filter.maxConditions, size.depth <= Filter.maxDepth else {
                throw StatsAPIError("#/filters: at most \(Filter.maxConditions) conditions, nested at most \(Filter.maxDepth) deep, are accepted.")
            }
        }
        return (filter, items.map(\.json))
    }
}

/// Reads one filter tree, counting conditions and depth as it goes, so a hostile tree is
/// refused before it is walked further.
private struct FilterReader {
    var conditions = 0

    mutating func filter(_ value: StatsQueryJSON, path: String, depth: Int) throws(StatsAPIError) -> Filter {
        guard depth <= Filter.maxDepth else {
            throw StatsAPIError("\(path): filters may be nested at most \(Filter.maxDepth) deep.")
        }
        guard let items = value.array, let name = items.first?.string else {
            throw StatsAPIError("\(path): Invalid filter \(value.quoted)")
        }
        switch name {
        case "and", "or":
            guard items.count == 2, let list = items.last?.array, !list.isEmpty else {
                throw StatsAPIError("\(path): Invalid filter \(value.quoted): `\(name)` takes a non-empty list of filters.")
            }
            var parts: [Filter] = []
            for (index, item) in list.enumerated() {
                parts.append(try filter(item, path: "\(path)/1/\(index)", depth: depth + 1))
            }
            return name == "and" ? .and(parts) : .or(parts)
        case "not":
            guard items.count == 2, let inner = items.last else {
                throw StatsAPIError("\(path): Invalid filter \(value.quoted): `not` takes one filter.")
            }
            return .not(try filter(inner, path: "\(path)/1", depth: depth + 1))
        case "matches", "matches_not":
            throw StatsAPIError(
                "\(path): regular expression filters (`\(name)`) are not supported by this server; use `is`, `is_not`, `contains` or `contains_not`.")
        case "has_done", "has_not_done":
            throw StatsAPIError("\(path): behavioral filters (`\(name)`) are not supported by this server.")
        case "is", "is_not", "contains", "contains_not":
            return try condition(items, name: name, value: value, path: path)
        default:
            throw StatsAPIError("\(path): Unknown operator for filter \(value.quoted).")
        }
    }

    private mutating func condition(_ items: [StatsQueryJSON], name: String, value: StatsQueryJSON, path: String) throws(StatsAPIError) -> Filter {
        conditions += 1
        guard conditions <= Filter.maxConditions else {
            throw StatsAPIError("#/filters: at most \(Filter.maxConditions) conditions are accepted.")
        }
        guard items.count == 3 || items.count == 4, items.count > 2, case .string(let key) = items[1], let clauses = items[2].array else {
            throw StatsAPIError("\(path): Invalid filter \(value.quoted)")
        }
        if items.count == 4 { try modifiers(items[3], path: path) }
        let property: Property
        switch StatsQueryRules.property(key) {
        case .found(let found): property = found
        case .unsupported: throw StatsAPIError("\(path)/1: Dimension \(items[1].quoted) is not supported by this server.")
        case .unknown: throw StatsAPIError("\(path): Invalid filter \(value.quoted)")
        }
        guard clauses.count <= StatsQueryRules.maxValuesPerCondition else {
            throw StatsAPIError("\(path)/2: at most \(StatsQueryRules.maxValuesPerCondition) clauses are accepted.")
        }
        var values: [String] = []
        for clause in clauses {
            guard let text = clause.string else { throw StatsAPIError("\(path): Invalid filter \(value.quoted)") }
            guard text.utf8.count <= StatsQueryRules.maxValueBytes else {
                throw StatsAPIError("\(path)/2: clauses must be at most \(StatsQueryRules.maxValueBytes) bytes.")
            }
            values.append(text)
        }
        if property == .country, name == "is" || name == "is_not", values.contains(where: { $0.count != 2 }) {
            throw StatsAPIError("\(path): Invalid visit:country filter, visit:country needs to be a valid 2-letter country code.")
        }
        let comparison: FilterOperator = switch name {
        case "is": .is
        case "is_not": .isNot
        case "contains": .contains
        default: .containsNot
        }
        return .condition(property, comparison, values)
    }

    /// The fourth element: only `{"case_sensitive": true}` (the default) is served here.
    private func modifiers(_ value: StatsQueryJSON, path: String) throws(StatsAPIError) {
        guard case .object(let members) = value else { throw StatsAPIError("\(path)/3: filter modifiers must be an object.") }
        for (key, member) in members {
            guard key == "case_sensitive", case .bool(let flag) = member else {
                throw StatsAPIError("\(path)/3: unknown filter modifier \(StatsQueryRules.quoted(key)).")
            }
            guard flag else { throw StatsAPIError("\(path)/3: case-insensitive filters are not supported by this server.") }
        }
    }
}
