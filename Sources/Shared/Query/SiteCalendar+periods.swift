/// A period of the Stats API, relative to a reference date (a local date of the site, by
/// default today) or to now.
///
/// The v1 periods follow Plausible's implementation (`Legacy.QueryBuilder`), which the v1 docs
/// summarise as "last n days relative to date": `7d` is the 7 days ending with `date`, and `30d`
/// is `date` and the 30 days before it (31 days, Plausible's long-standing v1 behaviour). The v2
/// shorthands (`7d`, `28d`, `30d`, `91d`, `6mo`, `12mo`) exclude the reference day or month since
/// Plausible's PR #5240 (2025): see `previousDays` and `previousMonths`.
public enum StatsPeriod: Sendable, Hashable {
    /// The reference day.
    case day
    /// v1 `7d`: the reference day and the 6 days before it.
    case sevenDays
    /// v1 `30d`: the reference day and the 30 days before it (31 days, as Plausible answers).
    case thirtyDays
    /// The calendar month holding the reference day, all of it.
    case month
    /// v1 `6mo`: the month holding the reference day and the 5 before it.
    case sixMonths
    /// v1 `12mo`: the month holding the reference day and the 11 before it.
    case twelveMonths
    /// The calendar year holding the reference day, all of it.
    case year
    /// From the first day to the last, both included.
    case custom(LocalDate, LocalDate)
    /// Current visitors: the last 5 minutes (and 5 s ahead, for clock skew), as Plausible counts them.
    case realtime
    /// `30m`: the last 30 minutes (and 5 s ahead), the dashboard's realtime graph.
    case thirtyMinutes
    /// From the site's first stats (when known) to the reference day.
    case all
    /// v2 `Nd`: the N days before the reference day, which is excluded.
    case previousDays(Int)
    /// v2 `Nmo`: the N calendar months before the reference day's month, which is excluded.
    case previousMonths(Int)

    /// The period when a v1 request names none.
    public static let v1Default = StatsPeriod.thirtyDays

    /// v1 `period` names that need no `date` range, and what they mean.
    public static let v1Names: [String: StatsPeriod] = [
        "day": .day, "7d": .sevenDays, "30d": .thirtyDays, "month": .month, "6mo": .sixMonths, "12mo": .twelveMonths,
        "year": .year, "realtime": .realtime, "30m": .thirtyMinutes, "all": .all,
    ]

    /// Parses v1 `period` (`day`, `7d`, `30d`, `month`, `6mo`, `12mo`, `year`, `custom`, and
    /// Plausible's undocumented `realtime`, `30m`, `all`); `custom` takes `date=YYYY-MM-DD,YYYY-MM-DD`.
    public static func parse(v1 text: String, date: String?) throws(QueryError) -> StatsPeriod {
        if let named = v1Names[text] { return named }
        switch text {
        case "custom":
            let parts = (date ?? "").split(separator: ",", omittingEmptySubsequences: false)
            guard parts.count == 2,
                  let first = LocalDate(parsing: parts[0].trimmingSpaces),
                  let last = LocalDate(parsing: parts[1].trimmingSpaces)
            else {
                throw QueryError("period=custom needs date=YYYY-MM-DD,YYYY-MM-DD (first and last day, both included).")
            }
            guard first <= last else {
                throw QueryError("In date=\(first),\(last) the first day is after the last; swap them.")
            }
            return .custom(first, last)
        default:
            throw QueryError("Invalid period '\(text.clipped)'. Use day, 7d, 30d, month, 6mo, 12mo, year or custom.")
        }
    }

    /// `parse(v1:date:)`, or nil when the period is invalid.
    public init?(v1 text: String, date: String?) {
        guard let period = try? Self.parse(v1: text, date: date) else { return nil }
        self = period
    }

    /// The interval Plausible's v1 time series uses for this period when none is given.
    public var defaultInterval: StatsInterval {
        switch self {
        case .realtime, .thirtyMinutes: .minute
        case .day: .hour
        case .sevenDays, .thirtyDays, .month, .custom, .all, .previousDays: .day
        case .sixMonths, .twelveMonths, .year, .previousMonths: .month
        }
    }
}

/// A period turned into instants of a site's calendar.
public struct ResolvedPeriod: Sendable, Hashable {
    /// The instants, `[start, end)`.
    public var range: TimeRange
    /// The local days covered; nil for a range of instants (realtime, v2 date-times).
    public var dates: LocalDateSpan?
    /// The time bucket Plausible uses when a time series names none (v1 `interval`, v2 `time`).
    public var defaultInterval: StatsInterval

    /// A resolved period from its parts.
    public init(range: TimeRange, dates: LocalDateSpan?, defaultInterval: StatsInterval) {
        self.range = range
        self.dates = dates
        self.defaultInterval = defaultInterval
    }
}

extension SiteCalendar {
    /// How far ahead of now realtime periods reach, as Plausible's do (clock skew).
    static let realtimeLead: Int64 = 5_000

    /// The local days of `period` relative to `date` (default: today in this zone at `now`);
    /// nil for realtime periods, which are instants. `statsStart` is the site's first day with
    /// stats, for `all` (default: the reference day).
    public func dates(period: StatsPeriod, date: LocalDate?, now: Int64, statsStart: LocalDate? = nil) -> LocalDateSpan? {
        let date = date ?? localDate(of: now)
        let first: LocalDate
        let last: LocalDate
        switch period {
        case .day: (first, last) = (date, date)
        case .sevenDays: (first, last) = (date.adding(days: -6), date)
        case .thirtyDays: (first, last) = (date.adding(days: -30), date)
        case .month: (first, last) = (date.firstOfMonth, date.lastOfMonth)
        case .sixMonths: (first, last) = (date.adding(months: -5).firstOfMonth, date.lastOfMonth)
        case .twelveMonths: (first, last) = (date.adding(months: -11).firstOfMonth, date.lastOfMonth)
        case .year:
            (first, last) = (date.adding(months: 1 - date.month).firstOfMonth, date.adding(months: 12 - date.month).lastOfMonth)
        case .custom(let a, let b): (first, last) = (min(a, b), max(a, b))
        case .realtime, .thirtyMinutes: return nil
        case .all: (first, last) = (min(statsStart ?? date, date), date)
        case .previousDays(let n): (first, last) = (date.adding(days: -max(n, 1)), date.adding(days: -1))
        case .previousMonths(let n):
            (first, last) = (date.adding(months: -max(n, 1)).firstOfMonth, date.adding(months: -1).lastOfMonth)
        }
        return LocalDateSpan(first: first, last: last)
    }

    /// `[start, end)` of `period` relative to `date` (default: today in this zone at `now`).
    public func range(period: StatsPeriod, date: LocalDate?, now: Int64, statsStart: LocalDate? = nil) -> TimeRange {
        switch period {
        case .realtime: return TimeRange(start: now - 5 * Self.minuteMillis, end: now + Self.realtimeLead)
        case .thirtyMinutes: return TimeRange(start: now - 30 * Self.minuteMillis, end: now + Self.realtimeLead)
        default:
            guard let span = dates(period: period, date: date, now: now, statsStart: statsStart) else {
                return TimeRange(start: now, end: now)
            }
            return range(span)
        }
    }

    /// Resolves Stats API v1 `period` (default `30d`) and `date` (a day, `today`, or the
    /// `A,B` pair of `custom`; default today in this zone).
    public func resolve(v1Period text: String?, date: String?, now: Int64) throws(QueryError) -> ResolvedPeriod {
        let period = try StatsPeriod.parse(v1: text ?? "30d", date: date)
        var reference: LocalDate?
        if case .custom = period {
            reference = nil
        } else if let date, date != "today" {
            guard let day = LocalDate(parsing: date) else {
                throw QueryError("Invalid date '\(date.clipped)'. Use YYYY-MM-DD.")
            }
            reference = day
        }
        let dates = dates(period: period, date: reference, now: now)
        return ResolvedPeriod(
            range: range(period: period, date: reference, now: now), dates: dates, defaultInterval: period.defaultInterval)
    }

    /// Resolves a Stats API v2 `date_range` given as a string: `day`, `7d`, `28d`, `30d`, `91d`
    /// (any `Nd`, N ≤ 5000), `month`, `6mo`, `12mo` (any `Nmo`, N ≤ 100), `year`, `all`,
    /// `realtime`, `30m`; relative to `date` (default today in this zone at `now`).
    public func resolve(v2DateRange text: String, date: LocalDate?, now: Int64, statsStart: LocalDate? = nil) throws(QueryError)
        -> ResolvedPeriod
    {
        let period: StatsPeriod
        switch text {
        case "day": period = .day
        case "month": period = .month
        case "year": period = .year
        case "all": period = .all
        case "realtime": period = .realtime
        case "30m": period = .thirtyMinutes
        default:
            if let n = Self.shorthand(text, unit: "d"), (1...5000).contains(n) {
                period = .previousDays(n)
            } else if let n = Self.shorthand(text, unit: "mo"), (1...100).contains(n) {
                period = .previousMonths(n)
            } else {
                throw QueryError(
                    "Invalid date_range '\(text.clipped)'. Use \"day\", \"7d\", \"28d\", \"30d\", \"91d\", \"month\", \"6mo\", "
                        + "\"12mo\", \"year\", \"all\", or [\"YYYY-MM-DD\", \"YYYY-MM-DD\"].")
            }
        }
        let range = range(period: period, date: date, now: now, statsStart: statsStart)
        return ResolvedPeriod(
            range: range, dates: dates(period: period, date: date, now: now, statsStart: statsStart),
            defaultInterval: period == .realtime || period == .thirtyMinutes ? .minute : autoInterval(for: range))
    }

    /// Resolves a Stats API v2 `date_range` given as a pair: two dates (local days, both
    /// included) or two ISO 8601 date-times with offsets (the end included to the second, as
    /// Plausible stores seconds).
    public func resolve(v2DateRange pair: [String]) throws(QueryError) -> ResolvedPeriod {
        guard pair.count == 2, let from = pair.first, let to = pair.last else {
            throw QueryError("date_range needs exactly two values: [\"YYYY-MM-DD\", \"YYYY-MM-DD\"] or two ISO 8601 date-times.")
        }
        if let first = LocalDate(parsing: from), let last = LocalDate(parsing: to) {
            guard let span = LocalDateSpan(first: first, last: last) else {
                throw QueryError("In date_range the first day (\(first)) is after the last (\(last)); swap them.")
            }
            let range = range(span)
            return ResolvedPeriod(range: range, dates: span, defaultInterval: autoInterval(for: range))
        }
        guard let start = Timestamp.parseISO8601(from), let last = Timestamp.parseISO8601(to) else {
            throw QueryError(
                "Invalid date_range [\"\(from.clipped)\", \"\(to.clipped)\"]. Use two dates (YYYY-MM-DD) or two ISO 8601 "
                    + "date-times with an offset (2024-01-01T12:00:00+02:00).")
        }
        let range = TimeRange(start: Self.floorDiv(start, 1000) * 1000, end: Self.floorDiv(last, 1000) * 1000 + 1000)
        guard range.start < range.end else {
            throw QueryError("In date_range the start (\(from.clipped)) is after the end (\(to.clipped)); swap them.")
        }
        return ResolvedPeriod(range: range, dates: nil, defaultInterval: autoInterval(for: range))
    }

    /// The bucket Plausible's v2 `time` dimension picks for `range`: hours up to 48 hours,
    /// days up to 40 days, weeks up to 52 weeks, months beyond.
    public func autoInterval(for range: TimeRange) -> StatsInterval {
        let span = max(0, range.end - range.start - 1000)  // Plausible measures to the last second
        if span / Self.hourMillis <= 48 { return .hour }
        if span / Self.dayMillis <= 40 { return .day }
        if span / (7 * Self.dayMillis) <= 52 { return .week }
        return .month
    }

    /// N in `"<N><unit>"` (ASCII digits, at most 4), or nil.
    private static func shorthand(_ text: String, unit: String) -> Int? {
        guard text.hasSuffix(unit) else { return nil }
        let digits = text.utf8.dropLast(unit.utf8.count)
        guard (1...4).contains(digits.count), digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        return digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces (Plausible trims the days of `custom`).
    fileprivate var trimmingSpaces: String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }

    /// The text cut to 64 characters, to echo client input in an error.
    fileprivate var clipped: String {
        count <= 64 ? String(self) : String(prefix(64)) + "…"
    }
}
