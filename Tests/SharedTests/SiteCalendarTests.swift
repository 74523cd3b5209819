import Testing

@testable import Shared

/// Local dates, zones and local days: DST-correct, half-hour zones, strict parsing.
struct SiteCalendarTests {
    /// Unix milliseconds of an ISO 8601 literal (`Int64.min` if the literal is wrong, which fails the test).
    func millis(_ iso: String) -> Int64 { Timestamp.parseISO8601(iso) ?? .min }

    /// A date literal (1970-01-01 if wrong, which fails the test).
    func day(_ text: String) -> LocalDate { LocalDate(parsing: text) ?? LocalDate(daysSince1970: 0) }

    /// A site calendar of a zone that must exist.
    func zone(_ name: String) throws -> SiteCalendar { try #require(SiteCalendar(timeZone: name)) }

    @Test func knownZonesAreAcceptedAndUnknownOnesRefused() throws {
        #expect(try zone("Europe/Paris").identifier == "Europe/Paris")
        #expect(try zone("America/New_York").identifier == "America/New_York")
        #expect(SiteCalendar.utc.identifier == "UTC")
        for bad in ["", "Mars/Olympus", "Europe/Nowhere", "../../etc/passwd", "/etc/localtime", "Europe/Paris\n", String(repeating: "A", count: 65)] {
            #expect(SiteCalendar(timeZone: bad) == nil, "\(bad)")
        }
    }

    @Test func localDatesParseStrictly() {
        #expect(LocalDate(parsing: "2024-02-29") == LocalDate(year: 2024, month: 2, day: 29))
        #expect(LocalDate(parsing: "2024-02-29")?.description == "2024-02-29")
        for bad in ["2023-02-29", "2024-13-01", "2024-00-10", "2024-01-32", "2024-1-01", "24-01-01", " 2024-01-01",
                    "2024-01-01 ", "2024/01/01", "2024-01-01T00:00:00Z", "0000-01-01", "２０２４-01-01", ""] {
            #expect(LocalDate(parsing: bad) == nil, "\(bad)")
        }
    }

    @Test func localDateArithmetic() {
        #expect(day("2024-02-28").adding(days: 1) == day("2024-02-29"))
        #expect(day("2024-02-29").adding(days: 1) == day("2024-03-01"))
        #expect(day("2023-12-31").adding(days: 1) == day("2024-01-01"))
        #expect(day("2024-03-01").adding(days: -366) == day("2023-03-01"))
        #expect(day("2024-01-31").adding(months: 1) == day("2024-02-29"))
        #expect(day("2023-01-31").adding(months: 1) == day("2023-02-28"))
        #expect(day("2024-03-31").adding(months: -13) == day("2023-02-28"))
        #expect(day("2024-11-15").adding(months: 3) == day("2025-02-15"))
        #expect(day("1970-01-01").daysSince1970 == 0)
        #expect(LocalDate(daysSince1970: -1) == day("1969-12-31"))
        #expect(day("2024-10-21").weekday == 1)  // a Monday
        #expect(day("2024-10-27").weekday == 7)
        #expect(day("2024-10-27").monday == day("2024-10-21"))
        #expect(day("2024-02-10").lastOfMonth == day("2024-02-29"))
        #expect(day("2024-01-01") < day("2024-01-02"))
        #expect(day("2023-12-31") < day("2024-01-01"))
    }

    @Test func dayLengthsFollowDaylightSavingTime() throws {
        let hours = { (calendar: SiteCalendar, text: String) -> Int64 in
            (calendar.startOfDay(day(text).adding(days: 1)) - calendar.startOfDay(day(text))) / 3_600_000
        }
        let paris = try zone("Europe/Paris")
        #expect(paris.startOfDay(day("2024-03-31")) == millis("2024-03-30T23:00:00Z"))
        #expect(hours(paris, "2024-03-31") == 23)
        #expect(hours(paris, "2024-10-27") == 25)
        #expect(hours(paris, "2024-06-01") == 24)
        let newYork = try zone("America/New_York")
        #expect(newYork.startOfDay(day("2024-03-10")) == millis("2024-03-10T05:00:00Z"))
        #expect(hours(newYork, "2024-03-10") == 23)
        #expect(hours(newYork, "2024-11-03") == 25)
        #expect(newYork.startOfDay(day("2024-11-04")) == millis("2024-11-04T05:00:00Z"))
    }

    @Test func halfHourZonesStartDaysOnTheHalfHour() throws {
        let kolkata = try zone("Asia/Kolkata")
        #expect(kolkata.startOfDay(day("2024-01-01")) == millis("2023-12-31T18:30:00Z"))
        #expect(kolkata.localDate(of: millis("2023-12-31T18:29:59.999Z")) == day("2023-12-31"))
        #expect(kolkata.localDate(of: millis("2023-12-31T18:30:00Z")) == day("2024-01-01"))
    }

    @Test func aDayWhoseMidnightIsSkippedStartsWhenTheClockJumps() throws {
        // Brazil started DST at midnight until 2019: 2018-11-04 began at 01:00 local (03:00 UTC).
        let saoPaulo = try zone("America/Sao_Paulo")
        #expect(saoPaulo.startOfDay(day("2018-11-04")) == millis("2018-11-04T03:00:00Z"))
        #expect(saoPaulo.localDate(of: millis("2018-11-04T02:59:59.999Z")) == day("2018-11-03"))
        #expect(saoPaulo.localDate(of: millis("2018-11-04T03:00:00Z")) == day("2018-11-04"))
        // Chile ends DST at midnight by going back to 23:00: that Saturday has 25 hours.
        let santiago = try zone("America/Santiago")
        #expect(santiago.startOfDay(day("2024-04-07")) - santiago.startOfDay(day("2024-04-06")) == 25 * 3_600_000)
    }

    @Test(arguments: ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "America/Sao_Paulo"])
    func everyInstantLiesInItsOwnLocalDay(name: String) throws {
        let calendar = try zone(name)
        var t = millis("2018-01-01T00:00:00Z")
        while t < millis("2025-01-01T00:00:00Z") {
            let date = calendar.localDate(of: t)
            #expect(calendar.startOfDay(date) <= t && t < calendar.startOfDay(date.adding(days: 1)), "\(name) \(t)")
            t += 7_777_777  // about 2 h 10 min: lands on every hour of the day over the years
        }
    }

    @Test func v1PeriodsFollowPlausible() throws {
        let paris = try zone("Europe/Paris")
        let now = millis("2024-03-15T10:00:00Z")
        let dates = { (period: StatsPeriod, date: String?) in
            paris.dates(period: period, date: date.map(day), now: now).map { "\($0.first)..\($0.last)" }
        }
        #expect(dates(.day, nil) == "2024-03-15..2024-03-15")
        #expect(dates(.sevenDays, "2024-03-05") == "2024-02-28..2024-03-05")
        #expect(dates(.thirtyDays, "2024-03-31") == "2024-03-01..2024-03-31")  // 31 days, as Plausible's v1
        #expect(dates(.month, "2024-02-10") == "2024-02-01..2024-02-29")
        #expect(dates(.sixMonths, "2024-03-15") == "2023-10-01..2024-03-31")
        #expect(dates(.twelveMonths, "2024-03-15") == "2023-04-01..2024-03-31")
        #expect(dates(.year, "2024-03-15") == "2024-01-01..2024-12-31")
        #expect(dates(.custom(day("2024-01-10"), day("2024-02-20")), nil) == "2024-01-10..2024-02-20")
        #expect(dates(.realtime, nil) == nil)
        let month = paris.range(period: .month, date: day("2024-03-15"), now: now)
        #expect(month == TimeRange(start: millis("2024-02-29T23:00:00Z"), end: millis("2024-03-31T22:00:00Z")))
        #expect(paris.range(period: .realtime, date: nil, now: now) == TimeRange(start: now - 300_000, end: now + 5_000))
    }

    @Test func todayIsTheSiteZonesToday() throws {
        let now = millis("2024-01-01T02:00:00Z")
        #expect(try zone("America/New_York").range(period: .day, date: nil, now: now).start == millis("2023-12-31T05:00:00Z"))
        #expect(try zone("Asia/Tokyo").range(period: .day, date: nil, now: now).start == millis("2023-12-31T15:00:00Z"))
    }

    @Test func v1ParametersResolveOrSayWhatIsWrong() throws {
        let utc = SiteCalendar.utc
        let now = millis("2024-05-20T12:00:00Z")
        let resolved = try utc.resolve(v1Period: nil, date: nil, now: now)
        #expect(resolved.dates.map { "\($0.first)..\($0.last)" } == "2024-04-20..2024-05-20")
        #expect(resolved.defaultInterval == .day)
        #expect(try utc.resolve(v1Period: "day", date: "today", now: now).defaultInterval == .hour)
        #expect(try utc.resolve(v1Period: "6mo", date: "2024-01-05", now: now).defaultInterval == .month)
        let custom = try utc.resolve(v1Period: "custom", date: "2024-01-01, 2024-01-31", now: now)
        #expect(custom.range == TimeRange(start: millis("2024-01-01T00:00:00Z"), end: millis("2024-02-01T00:00:00Z")))
        #expect(StatsPeriod(v1: "custom", date: "2024-01-01,2024-01-31") == .custom(day("2024-01-01"), day("2024-01-31")))
        for (period, date) in [("week", nil), ("custom", nil), ("custom", "2024-01-01"), ("custom", "2024-02-01,2024-01-01"),
                               ("custom", "2024-01-01,2024-01-01,2024-01-02"), ("day", "2024-02-30"), ("day", "yesterday")] as [(String, String?)] {
            #expect(throws: QueryError.self, "\(period) \(date ?? "nil")") { try utc.resolve(v1Period: period, date: date, now: now) }
        }
        #expect(StatsPeriod(v1: "7D", date: nil) == nil)
    }

    @Test func v2DateRangesFollowPlausible() throws {
        let paris = try zone("Europe/Paris")
        let now = millis("2024-03-15T10:00:00Z")
        let dates = { (text: String) throws -> String? in
            try paris.resolve(v2DateRange: text, date: nil, now: now, statsStart: day("2023-06-01")).dates.map { "\($0.first)..\($0.last)" }
        }
        #expect(try dates("day") == "2024-03-15..2024-03-15")
        #expect(try dates("7d") == "2024-03-08..2024-03-14")  // excludes today since Plausible PR #5240
        #expect(try dates("28d") == "2024-02-16..2024-03-14")
        #expect(try dates("30d") == "2024-02-14..2024-03-14")
        #expect(try dates("91d") == "2023-12-15..2024-03-14")
        #expect(try dates("month") == "2024-03-01..2024-03-31")
        #expect(try dates("6mo") == "2023-09-01..2024-02-29")
        #expect(try dates("12mo") == "2023-03-01..2024-02-29")
        #expect(try dates("year") == "2024-01-01..2024-12-31")
        #expect(try dates("all") == "2023-06-01..2024-03-15")
        #expect(try paris.resolve(v2DateRange: "day", date: nil, now: now).defaultInterval == .hour)
        #expect(try paris.resolve(v2DateRange: "28d", date: nil, now: now).defaultInterval == .day)
        #expect(try paris.resolve(v2DateRange: "6mo", date: nil, now: now).defaultInterval == .week)
        #expect(try paris.resolve(v2DateRange: "12mo", date: nil, now: now).defaultInterval == .week)  // 52 weeks, as Plausible
        #expect(try paris.resolve(v2DateRange: ["2022-01-01", "2024-01-01"]).defaultInterval == .month)
        for bad in ["", "week", "0d", "5001d", "101mo", "-7d", "7 d", "d", "mo", "00000d"] {
            #expect(throws: QueryError.self, "\(bad)") { try paris.resolve(v2DateRange: bad, date: nil, now: now) }
        }
    }

    @Test func v2DatePairsAreLocalDaysOrInstants() throws {
        let paris = try zone("Europe/Paris")
        let days = try paris.resolve(v2DateRange: ["2024-01-01", "2024-01-31"])
        #expect(days.range == TimeRange(start: millis("2023-12-31T23:00:00Z"), end: millis("2024-01-31T23:00:00Z")))
        #expect(days.dates?.dayCount == 31)
        let instants = try paris.resolve(v2DateRange: ["2024-01-01T12:00:00+02:00", "2024-01-01T15:59:59+02:00"])
        #expect(instants.range == TimeRange(start: millis("2024-01-01T10:00:00Z"), end: millis("2024-01-01T14:00:00Z")))
        #expect(instants.dates == nil)
        #expect(instants.defaultInterval == .hour)
        for bad in [["2024-01-31", "2024-01-01"], ["2024-01-01"], ["2024-01-01", "2024-01-02", "2024-01-03"],
                    ["2024-01-01", "2024-01-02T00:00:00Z"], ["2024-01-01T12:00:00", "2024-01-01T13:00:00"],
                    ["2024-01-01T13:00:00Z", "2024-01-01T12:00:00Z"], ["yesterday", "today"]] {
            #expect(throws: QueryError.self, "\(bad)") { try paris.resolve(v2DateRange: bad) }
        }
    }
}
