import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import IngestAPI
@testable import Shared

extension StatsAPITests {
    @Test func zzDebugLongRanges() async throws {
        try await Self.withSite(isPublic: true) { site in
            for (period, date) in [("30d", ""), ("12mo", ""), ("custom", "2020-01-01,2026-11-20")] {
                let clock = ContinuousClock()
                let start = clock.now
                var parameters = [("period", period), ("metrics", "visitors,pageviews")]
                if !date.isEmpty { parameters.append(("date", date)) }
                let answer = try await site.v1("aggregate", parameters)
                print("DEBUGTIME", period, date, clock.now - start, answer.status.code, answer.body.prefix(200))
                let again = clock.now
                _ = try await site.v1("aggregate", parameters)
                print("DEBUGTIME2", period, clock.now - again)
            }
        }
    }
}
