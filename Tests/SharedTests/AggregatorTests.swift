import Testing

@testable import Shared

/// Grouping by several dimensions: a visit counts under the combinations its events have, and
/// events under their own values with their visit's.
struct AggregatorTests {
    static let hour: Int64 = 3_600_000

    /// One event of session 1 (visitor 7, source Google) at `minute` past the hour.
    static func event(_ minute: Int64, path: String?, name: String? = nil, type: String = "page_view") -> EventRow {
        var row = EventRow()
        row.timestamp = 10 * hour + minute * 60_000
        row.path = path
        row.name = name
        row.eventType = type
        row.visitorID = 7
        row.sessionID = 1
        row.attributes = ["source": "Google"]
        return row
    }

    static func cells(_ dimensions: [Dimension], _ events: [EventRow]) throws -> [[DimensionValue]: Cell] {
        var cells: [[DimensionValue]: Cell] = [:]
        let aggregator = Aggregator(dimensions: dimensions, filter: nil, calendar: .utc)
        try aggregator.add([Visit(session: Session(events: events), startsBefore: false)], range: TimeRange(start: 0, end: 100 * hour), into: &cells)
        return cells
    }

    @Test func aVisitCountsOnlyUnderCombinationsOneOfItsEventsHas() throws {
        // A page view on /a, then a Signup sent from /b.
        let events = [Self.event(0, path: "/a"), Self.event(5, path: "/b", name: "Signup", type: "custom")]
        let cells = try Self.cells([.property(.page), .property(.name)], events)
        #expect(Set(cells.keys) == [[.text("/a"), .text("pageview")], [.text("/b"), .text("Signup")]])
        #expect(cells[[.text("/a"), .text("pageview")]]?.visits == 1)
        #expect(cells[[.text("/a"), .text("pageview")]]?.pageviews == 1)
        #expect(cells[[.text("/b"), .text("Signup")]]?.events == 1)
    }

    @Test func aVisitPropertyWithAnEventPropertyGroupsEachEventByItsOwnValue() throws {
        let events = [Self.event(0, path: "/a"), Self.event(3, path: "/b"), Self.event(6, path: "/c"), Self.event(9, path: "/b")]
        let cells = try Self.cells([.property(.source), .property(.page)], events)
        #expect(Set(cells.keys) == [[.text("Google"), .text("/a")], [.text("Google"), .text("/b")], [.text("Google"), .text("/c")]])
        #expect(cells[[.text("Google"), .text("/b")]]?.pageviews == 2)
        #expect(cells[[.text("Google"), .text("/b")]]?.visits == 1)
        #expect(cells.values.map(\.visitors.count).allSatisfy { $0 == 1 })
    }

    @Test func manyDimensionsOverALongVisitMakeOneGroupPerEventAtMost() throws {
        // 20 events, each with its own page and its own value of three props: crossing the values
        // would make 20^4 groups; one per event is what the visit has.
        let events = (0..<20).map { index -> EventRow in
            var row = Self.event(Int64(index), path: "/p\(index)", name: "E", type: "custom")
            row.props = ["a": "a\(index)", "b": "b\(index)", "c": "c\(index)"]
            return row
        }
        let cells = try Self.cells([.property(.page), .property(.prop("a")), .property(.prop("b")), .property(.prop("c"))], events)
        #expect(cells.count == 20)
        #expect(cells.values.allSatisfy { $0.visits == 1 && $0.events == 1 })
    }
}
