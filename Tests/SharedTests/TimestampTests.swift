import Testing

@testable import Shared

/// ISO-8601 and calendar-day parsing, in UTC.
struct TimestampTests {
    @Test(arguments: [
        ("1970-01-01T00:00:00Z", Int64(0)),
        ("2025-11-23T16:44:31.123Z", Int64(1_763_916_271_123)),
        ("2025-11-23T16:44:31.1234567Z", Int64(1_763_916_271_123)),
        ("2025-11-23T17:44:31.123+01:00", Int64(1_763_916_271_123)),
        ("2025-11-23T12:44:31.123-0400", Int64(1_763_916_271_123)),
        ("2024-02-29t00:00:00z", Int64(1_709_164_800_000)),
    ])
    func parsesZonedTimestamps(text: String, millis: Int64) {
        #expect(Timestamp.parseISO8601(text) == millis)
    }

    @Test(arguments: ["2025-11-23", "2025-11-23T16:44:31", "2025-13-01T00:00:00Z", "2023-02-29T00:00:00Z",
                      "2025-11-23T24:00:00Z", "2025-11-23T16:44:31.Z", "2025-11-23T16:44:31Z junk", "2025-11-23 16:44:31Z"])
    func refusesMalformedTimestamps(text: String) {
        #expect(Timestamp.parseISO8601(text) == nil)
    }

    @Test func dayRoundTrips() {
        #expect(Timestamp.parseDay("2025-11-23") == 1_763_856_000_000)
        #expect(Timestamp.formatDay(1_763_916_271_123) == "2025-11-23")
        #expect(Timestamp.parseDay("2025-11-31") == nil)
        #expect(Timestamp.parseDay("25-11-23") == nil)
    }
}
