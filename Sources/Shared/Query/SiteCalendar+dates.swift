/// A calendar date (proleptic Gregorian) without a time or a zone: a local day of a site.
public struct LocalDate: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The year, 1...9999 for a parsed date.
    public let year: Int
    /// The month, 1...12.
    public let month: Int
    /// The day of the month, 1...31.
    public let day: Int

    /// The date, or nil unless `year` is 1...9999 and `month` and `day` name a real day.
    public init?(year: Int, month: Int, day: Int) {
        guard (1...9999).contains(year), (1...12).contains(month),
              (1...Self.daysIn(month: month, year: year)).contains(day)
        else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses exactly `YYYY-MM-DD` (ASCII digits, a real day); nil for anything else.
    public init?(parsing text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for index in range {
                let byte = bytes[index]
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10) else { return nil }
        self.init(year: year, month: month, day: day)
    }

    /// The date `days` days after 1970-01-01 (negative: before).
    public init(daysSince1970 days: Int) {
        let (year, month, day) = Timestamp.civil(fromDays: Int64(days))
        self.year = Int(year)
        self.month = Int(month)
        self.day = Int(day)
    }

    /// Days from 1970-01-01 to this date (negative before it).
    public var daysSince1970: Int {
        Int(Timestamp.days(fromCivil: Int64(year), Int64(month), Int64(day)))
    }

    /// ISO weekday: 1 for Monday through 7 for Sunday.
    public var weekday: Int {
        let days = daysSince1970
        return ((days % 7 + 7) % 7 + 3) % 7 + 1  // 1970-01-01 was a Thursday
    }

    /// `YYYY-MM-DD`.
    public var description: String {
        Self.pad(year, 4) + "-" + Self.pad(month, 2) + "-" + Self.pad(day, 2)
    }

    /// The date `days` days later (earlier when negative).
    public func adding(days: Int) -> LocalDate {
        LocalDate(daysSince1970: daysSince1970 + days)
    }

    /// The same day `months` months later (earlier when negative), clamped to the month's last
    /// day: 2024-01-31 plus one month is 2024-02-29.
    public func adding(months: Int) -> LocalDate {
        let total = year * 12 + (month - 1) + months
        let newYear = total >= 0 ? total / 12 : (total - 11) / 12
        let newMonth = total - newYear * 12 + 1
        return LocalDate(unchecked: newYear, newMonth, min(day, Self.daysIn(month: newMonth, year: newYear)))
    }

    /// The first day of this date's month.
    public var firstOfMonth: LocalDate { LocalDate(unchecked: year, month, 1) }

    /// The last day of this date's month.
    public var lastOfMonth: LocalDate { LocalDate(unchecked: year, month, Self.daysIn(month: month, year: year)) }

    /// The Monday starting this date's week (weeks start on Monday, as Plausible's do).
    public var monday: LocalDate { adding(days: 1 - weekday) }

    /// Orders dates in time.
    public static func < (lhs: LocalDate, rhs: LocalDate) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }

    /// Days in `month` of `year`.
    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// `value` in decimal, zero-padded to `width` digits.
    static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value.magnitude)
        return (value < 0 ? "-" : "") + String(repeating: "0", count: max(0, width - text.count)) + text
    }

    private init(unchecked year: Int, _ month: Int, _ day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }
}

/// Local days from `first` to `last`, both included: what a period means before a time zone
/// turns it into instants.
public struct LocalDateSpan: Sendable, Hashable {
    /// The first day.
    public let first: LocalDate
    /// The last day, included.
    public let last: LocalDate

    /// The span, or nil if `last` is before `first`.
    public init?(first: LocalDate, last: LocalDate) {
        guard first <= last else { return nil }
        self.first = first
        self.last = last
    }

    /// How many days the span holds (at least 1).
    public var dayCount: Int { last.daysSince1970 - first.daysSince1970 + 1 }
}

/// Instants from `start` (included) to `end` (excluded), Unix milliseconds.
public struct TimeRange: Sendable, Hashable {
    /// The first instant in the range.
    public var start: Int64
    /// The first instant after the range.
    public var end: Int64

    /// A range from its bounds.
    public init(start: Int64, end: Int64) {
        self.start = start
        self.end = end
    }

    /// True when the range holds no instant.
    public var isEmpty: Bool { end <= start }

    /// The length in milliseconds (0 when empty).
    public var duration: Int64 { max(0, end - start) }

    // `contains(_:)` is declared in Aggregator.swift (written before this file existed).
}
