extension StatsV1Query {
    /// Longest `filters` parameter, in UTF-8 bytes.
    public static let maxFiltersBytes = 16_384

    /// Parses v1's filter expression: conditions joined by `;` (and), each `property==value` or
    /// `property!=value`, values joined by `|` (any of them; `\|` is a literal bar), `*` and `**`
    /// wildcards. Nil for an empty expression; every malformed condition is a 400 naming it.
    public static func parseFilters(_ text: String) throws(StatsAPIError) -> Filter? {
        guard text.utf8.count <= maxFiltersBytes else {
            throw StatsAPIError("Error parsing `filters` parameter: at most \(maxFiltersBytes) bytes are accepted.")
        }
        var conditions: [Filter] = []
        for part in text.split(separator: ";", omittingEmptySubsequences: true) {
            let expression = part.statsTrimmed
            if expression.isEmpty { continue }
            guard conditions.count < Filter.maxConditions else {
                throw StatsAPIError("Error parsing `filters` parameter: at most \(Filter.maxConditions) conditions are accepted.")
            }
            conditions.append(try condition(expression))
        }
        switch conditions.count {
        case 0: return nil
        case 1: return conditions.first
        default: return .and(conditions)
        }
    }

    /// One `property==value` or `property!=value`.
    private static func condition(_ expression: Substring) throws(StatsAPIError) -> Filter {
        let operators = operatorRanges(in: expression)
        guard operators.count == 1, let found = operators.first else {
            throw StatsAPIError(
                "Error parsing `filters` parameter: \(StatsQueryRules.quoted(String(expression))) must be one property, `==` or `!=`, and a value, e.g. `event:page==/blog/**;visit:source==Google|Bing`.")
        }
        let key = String(expression[..<found.range.lowerBound].statsTrimmed)
        let raw = expression[found.range.upperBound...].statsTrimmed
        guard !key.isEmpty, !raw.isEmpty else {
            throw StatsAPIError("Error parsing `filters` parameter: \(StatsQueryRules.quoted(String(expression))) needs a property and a value.")
        }
        let property: Property
        switch StatsQueryRules.property(key) {
        case .found(let found): property = found
        case .unsupported:
            throw StatsAPIError("Invalid filter property \(StatsQueryRules.quoted(key)): this server does not record it. Please provide a supported filter property.")
        case .unknown:
            throw StatsAPIError(
                "Invalid filter property \(StatsQueryRules.quoted(key)). Please provide a valid filter property: https://plausible.io/docs/stats-api#properties")
        }
        let values = try memberValues(raw)
        if property == .country, let bad = values.first(where: { $0.utf8.count != 2 }) {
            throw StatsAPIError("Invalid visit:country filter value \(StatsQueryRules.quoted(bad)): visit:country needs to be a valid 2-letter country code.")
        }
        let wildcard = values.contains { $0.contains("*") }
        let comparison: FilterOperator = switch (found.negated, wildcard) {
        case (false, false): .is
        case (true, false): .isNot
        case (false, true): .wildcard
        case (true, true): .wildcardNot
        }
        return .condition(property, comparison, values)
    }

    /// Where `==` and `!=` occur, left to right, without overlaps.
    private static func operatorRanges(in text: Substring) -> [(range: Range<Substring.Index>, negated: Bool)] {
        var found: [(range: Range<Substring.Index>, negated: Bool)] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(after: index)
            if next < text.endIndex, text[next] == "=", text[index] == "=" || text[index] == "!" {
                found.append((index..<text.index(after: next), text[index] == "!"))
                index = text.index(after: next)
            } else {
                index = next
            }
        }
        return found
    }

    /// The values of `a|b|c`: split at each bar not escaped by a backslash, `\|` read as a bar.
    private static func memberValues(_ raw: Substring) throws(StatsAPIError) -> [String] {
        var values: [String] = []
        var current = ""
        var escaped = false
        for character in raw {
            if escaped {
                if character != "|" { current.append("\\") }
                current.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "|" {
                values.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        if escaped { current.append("\\") }
        values.append(current)
        guard values.count <= StatsQueryRules.maxValuesPerCondition else {
            throw StatsAPIError("Error parsing `filters` parameter: at most \(StatsQueryRules.maxValuesPerCondition) values per condition are accepted.")
        }
        if let long = values.first(where: { $0.utf8.count > StatsQueryRules.maxValueBytes }) {
            throw StatsAPIError("Error parsing `filters` parameter: the value \(StatsQueryRules.quoted(long)) is longer than \(StatsQueryRules.maxValueBytes) bytes.")
        }
        return values
    }
}

extension Substring {
    /// Without leading and trailing spaces, tabs and line breaks.
    var statsTrimmed: Substring {
        var text = self
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return text
    }
}
