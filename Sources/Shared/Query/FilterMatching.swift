extension Filter {
    /// Whether `event` of `session` passes: `event:*` conditions read the event, `visit:*` ones
    /// read its visit.
    public func matches(_ event: EventRow, in session: Session) -> Bool {
        switch self {
        case .condition(let property, let comparison, let values):
            let value = property.isEventScoped ? event.value(of: property) : session.value(of: property)
            return comparison.holds(for: value, against: values)
        case .and(let parts): return parts.allSatisfy { $0.matches(event, in: session) }
        case .or(let parts): return parts.contains { $0.matches(event, in: session) }
        case .not(let inner): return !inner.matches(event, in: session)
        }
    }

    /// Whether a visit passes: when one of its events passes the whole filter (its `visit:*`
    /// conditions read the visit). Plausible counts a visit under `event:page is /a and
    /// event:name is Signup` only when one event is both, and under `event:page is_not /a`
    /// when some event is on another page.
    public func matches(_ session: Session) -> Bool {
        session.events.contains { matches($0, in: session) }
    }

    /// True when some condition reads `property`.
    public func reads(_ property: Property) -> Bool {
        switch self {
        case .condition(let read, _, _): read == property
        case .and(let parts), .or(let parts): parts.contains { $0.reads(property) }
        case .not(let inner): inner.reads(property)
        }
    }

    /// True when some condition reads a `visit:*` property.
    public var readsVisit: Bool {
        switch self {
        case .condition(let property, _, _): !property.isEventScoped
        case .and(let parts), .or(let parts): parts.contains(where: \.readsVisit)
        case .not(let inner): inner.readsVisit
        }
    }
}

extension FilterOperator {
    /// Whether `value` passes the comparison with `values` (any of them for the positive
    /// operators, none of them for the negative ones).
    public func holds(for value: String, against values: [String]) -> Bool {
        switch self {
        case .is: values.contains(value)
        case .isNot: !values.contains(value)
        case .contains: values.contains { $0.isEmpty || value.contains($0) }
        case .containsNot: !values.contains { $0.isEmpty || value.contains($0) }
        case .wildcard: values.contains { Glob.matches(value, pattern: $0) }
        case .wildcardNot: !values.contains { Glob.matches(value, pattern: $0) }
        }
    }
}

/// Plausible's wildcards: `**` matches any run of bytes, `*` any run without `/`; everything
/// else is literal. Matched by dynamic programming over bytes: time is at most the value's
/// length times the pattern's, whatever the pattern (no backtracking to blow up).
public enum Glob {
    private enum Token: Equatable {
        case byte(UInt8)
        case segment
        case any
    }

    /// Whether `value` matches `pattern` as a whole.
    public static func matches(_ value: String, pattern: String) -> Bool {
        let tokens = tokenize(Array(pattern.utf8))
        // state[j]: the bytes read so far can match the first j tokens (a set of NFA states).
        var state = [Bool](repeating: false, count: tokens.count + 1)
        state[0] = true
        closeOverStars(&state, tokens)
        var next = state
        for byte in value.utf8 {
            for index in next.indices { next[index] = false }
            for (index, token) in tokens.enumerated() where state[index] {
                switch token {
                case .byte(let expected): if expected == byte { next[index + 1] = true }
                case .segment: if byte != UInt8(ascii: "/") { next[index] = true }
                case .any: next[index] = true
                }
            }
            closeOverStars(&next, tokens)
            guard next.contains(true) else { return false }
            swap(&state, &next)
        }
        return state[tokens.count]
    }

    /// A star may match nothing: a state before a star reaches the state after it.
    private static func closeOverStars(_ state: inout [Bool], _ tokens: [Token]) {
        for (index, token) in tokens.enumerated() where state[index] && isStar(token) { state[index + 1] = true }
    }

    private static func isStar(_ token: Token) -> Bool { token == .segment || token == .any }

    private static func tokenize(_ bytes: [UInt8]) -> [Token] {
        var tokens: [Token] = []
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "*") {
                if index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "*") {
                    tokens.append(.any)
                    index += 2
                } else {
                    tokens.append(.segment)
                    index += 1
                }
            } else {
                tokens.append(.byte(bytes[index]))
                index += 1
            }
        }
        return tokens
    }
}
