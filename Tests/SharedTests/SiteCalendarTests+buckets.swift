import Testing

@testable import Shared

/// Time buckets of a time series: contiguous, labelled in the site's zone, DST-correct.
extension SiteCalendarTests {
    /// The buckets of one local day.
    fileprivate func buckets(_ calendar: SiteCalendar, _ text: String, _ interval: StatsInterval) -> [TimeBucket] {
        calendar.buckets(calendar.range(period: .day, date: day(text), now: 0), interval: interval)
    }

    /// Buckets cover `range` exactly, in order, with no gap, no overlap and no empty bucket.
    fileprivate func expectTiling(_ buckets: [TimeBucket], _ range: TimeRange, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(buckets.first?.start == range.start, sourceLocation: sourceLocation)
        #expect(buckets.last?.end == range.end, sourceLocation: sourceLocation)
        for (a, b) in zip(buckets, buckets.dropFirst()) {
            #expect(a.end == b.start, sourceLocation: sourceLocation)
        }
        #expect(buckets.allSatisfy { $0.start < $0.end }, sourceLocation: sourceLocation)
        #expect(Set(buckets.map(\.label)).count == buckets.count, "labels are unique", sourceLocation: sourceLocation)
    }

    @Test func hourBucketsOnParisDaylightSavingDays() throws {
        let paris = try zone("Europe/Paris")
        let spring = buckets(paris, "2024-03-31", .hour)
        #expect(spring.count == 23)
        #expect(spring.map(\.label).prefix(4) == ["2024-03-31 00:00:00", "2024-03-31 01:00:00", "2024-03-31 03:00:00", "2024-03-31 04:00:00"])
        #expect(spring[2].start == millis("2024-03-31T01:00:00Z"))
        expectTiling(spring, paris.range(period: .day, date: day("2024-03-31"), now: 0))

        let autumn = buckets(paris, "2024-10-27", .hour)
        #expect(autumn.count == 25)
        #expect(autumn.map(\.label)[1...4] == ["2024-10-27 01:00:00", "2024-10-27 02:00:00+02:00", "2024-10-27 02:00:00+01:00", "2024-10-27 03:00:00"])
        #expect(autumn[2].start == millis("2024-10-27T00:00:00Z"))
        #expect(autumn[3].start == millis("2024-10-27T01:00:00Z"))
        expectTiling(autumn, paris.range(period: .day, date: day("2024-10-27"), now: 0))
        #expect(buckets(paris, "2024-10-28", .hour).count == 24)
    }

    @Test func hourBucketsOnNewYorkDaylightSavingDays() throws {
        let newYork = try zone("America/New_York")
        let spring = buckets(newYork, "2024-03-10", .hour)
        #expect(spring.count == 23)
        #expect(!spring.map(\.label).contains("2024-03-10 02:00:00"))
        let autumn = buckets(newYork, "2024-11-03", .hour)
        #expect(autumn.count == 25)
        #expect(autumn.map(\.label).filter { $0.hasPrefix("2024-11-03 01:00:00") } == ["2024-11-03 01:00:00-04:00", "2024-11-03 01:00:00-05:00"])
    }

    @Test func minuteBucketsCountTheMinutesTheDayHas() throws {
        let paris = try zone("Europe/Paris")
        #expect(buckets(paris, "2024-06-01", .minute).count == 1440)
        #expect(buckets(paris, "2024-03-31", .minute).count == 1380)
        let autumn = buckets(paris, "2024-10-27", .minute)
        #expect(autumn.count == 1500)
        #expect(autumn.first?.label == "2024-10-27 00:00:00")
        #expect(autumn.map(\.label).contains("2024-10-27 02:30:00+01:00"))
        expectTiling(autumn, paris.range(period: .day, date: day("2024-10-27"), now: 0))
    }

    @Test func halfHourZoneBucketsStartOnTheLocalHour() throws {
        let kolkata = try zone("Asia/Kolkata")
        let hours = buckets(kolkata, "2024-01-01", .hour)
        #expect(hours.count == 24)
        #expect(hours.first?.start == millis("2023-12-31T18:30:00Z"))
        #expect(hours[1].start == millis("2023-12-31T19:30:00Z"))
        #expect(hours.first?.label == "2024-01-01 00:00:00")
        let days = kolkata.buckets(kolkata.range(period: .sevenDays, date: day("2024-01-07"), now: 0), interval: .day)
        #expect(days.map(\.label) == (1...7).map { "2024-01-0\($0)" })
        #expect(days.allSatisfy { $0.end - $0.start == 86_400_000 })
        #expect(kolkata.bucketStart(of: millis("2023-12-31T19:29:59Z"), interval: .hour) == millis("2023-12-31T18:30:00Z"))
    }

    @Test func aThirtyMinuteShiftSplitsTheHour() throws {
        // Lord Howe Island goes back from +11:00 to +10:30 at 02:00 local.
        let lordHowe = try zone("Australia/Lord_Howe")
        let hours = buckets(lordHowe, "2024-04-07", .hour)
        #expect(hours.count == 25)
        #expect(hours[2] == TimeBucket(start: millis("2024-04-06T15:00:00Z"), end: millis("2024-04-06T15:30:00Z"), label: "2024-04-07 01:00:00+10:30"))
        expectTiling(hours, lordHowe.range(period: .day, date: day("2024-04-07"), now: 0))
    }

    @Test func dayBucketsOfTwelveMonthsAcrossBothDaylightSavingChanges() throws {
        let paris = try zone("Europe/Paris")
        let range = paris.range(period: .twelveMonths, date: day("2024-12-15"), now: 0)
        let days = paris.buckets(range, interval: .day)
        #expect(days.count == 366)
        #expect(days.first?.label == "2024-01-01")
        #expect(days.last?.label == "2024-12-31")
        #expect(days.contains { $0.label == "2024-02-29" })
        let length = { (label: String) -> Int64? in days.first { $0.label == label }.map { $0.end - $0.start } }
        let hour: Int64 = 3_600_000
        #expect(length("2024-03-31") == 23 * hour)
        #expect(length("2024-10-27") == 25 * hour)
        expectTiling(days, range)
    }

    @Test func weekBucketsStartOnMondayAndTheFirstIsClipped() throws {
        let utc = SiteCalendar.utc
        let range = utc.range(period: .month, date: day("2024-05-15"), now: 0)  // Wednesday 1 May to Friday 31 May
        let weeks = utc.buckets(range, interval: .week)
        #expect(weeks.map(\.label) == ["2024-05-01", "2024-05-06", "2024-05-13", "2024-05-20", "2024-05-27"])
        #expect(weeks.first?.start == millis("2024-05-01T00:00:00Z"))
        #expect(weeks.last?.end == millis("2024-06-01T00:00:00Z"))
        expectTiling(weeks, range)
    }

    @Test func monthBucketsAreLabelledByTheirFirstDay() throws {
        let newYork = try zone("America/New_York")
        let range = newYork.range(period: .sixMonths, date: day("2024-03-15"), now: 0)
        let months = newYork.buckets(range, interval: .month)
        #expect(months.map(\.label) == ["2023-10-01", "2023-11-01", "2023-12-01", "2024-01-01", "2024-02-01", "2024-03-01"])
        #expect(months[4].start == millis("2024-02-01T05:00:00Z"))
        #expect(months[5].end == millis("2024-04-01T04:00:00Z"))
        expectTiling(months, range)
        let custom = newYork.buckets(newYork.range(period: .custom(day("2024-01-20"), day("2024-02-10")), date: nil, now: 0), interval: .month)
        #expect(custom.map(\.label) == ["2024-01-01", "2024-02-01"])
        #expect(custom.first?.start == millis("2024-01-20T05:00:00Z"))
    }

    @Test func bucketsOfARangeOfInstantsAreClippedToIt() throws {
        let paris = try zone("Europe/Paris")
        let range = TimeRange(start: millis("2024-01-01T10:20:00Z"), end: millis("2024-01-01T12:05:00Z"))
        let hours = paris.buckets(range, interval: .hour)
        #expect(hours.map(\.label) == ["2024-01-01 11:00:00", "2024-01-01 12:00:00", "2024-01-01 13:00:00"])
        #expect(hours.first?.end == millis("2024-01-01T11:00:00Z"))
        expectTiling(hours, range)
        #expect(paris.buckets(TimeRange(start: 5, end: 5), interval: .hour).isEmpty)
        #expect(paris.buckets(TimeRange(start: 6, end: 5), interval: .day).isEmpty)
    }

    @Test(arguments: StatsInterval.allCases)
    func bucketStartAgreesWithBuckets(interval: StatsInterval) throws {
        for name in ["Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"] {
            let calendar = try zone(name)
            let start = millis("2024-03-01T00:00:00Z") + 1_234_567
            let length: Int64 = interval == .minute ? 3 * 86_400_000 : interval == .hour ? 40 * 86_400_000 : 400 * 86_400_000
            let range = TimeRange(start: start, end: start + length)
            let all = calendar.buckets(range, interval: interval)
            expectTiling(all, range)
            #expect(calendar.estimatedBucketCount(range, interval: interval) >= all.count)
            var t = range.start
            while t < range.end {
                let index = try #require(TimeBucket.index(of: t, in: all))
                #expect(all[index].start <= t && t < all[index].end)
                #expect(calendar.bucketStart(of: t, interval: interval) == calendar.bucketStart(of: all[index].start, interval: interval))
                if index > 0 { #expect(calendar.bucketStart(of: t, interval: interval) == all[index].start, "\(name) \(t)") }
                t += length / 997 + 7
            }
            #expect(TimeBucket.index(of: range.end, in: all) == nil)
            #expect(TimeBucket.index(of: range.start - 1, in: all) == nil)
        }
    }

    @Test func extremeInstantsNeitherTrapNorRunAway() throws {
        let paris = try zone("Europe/Paris")
        #expect(paris.localDate(of: .max) >= day("9999-12-31"))
        #expect(paris.localDate(of: .min).year <= 1)
        for interval in StatsInterval.allCases {
            _ = paris.bucketStart(of: .max, interval: interval)
            _ = paris.bucketStart(of: .min, interval: interval)
            #expect(paris.estimatedBucketCount(TimeRange(start: .min, end: .max), interval: interval) > SiteCalendar.maxBuckets)
        }
        let lastDays = SiteCalendar.utc.buckets(TimeRange(start: millis("9999-12-30T00:00:00Z"), end: .max), interval: .day)
        #expect(lastDays.map(\.label) == ["9999-12-30", "9999-12-31"])
    }

    @Test func intervalsParseFromV1() {
        #expect(StatsInterval(v1: "date") == .day)
        #expect(StatsInterval(v1: "month") == .month)
        #expect(StatsInterval(v1: "fortnight") == nil)
    }
}
