import Foundation

/// A site's calendar: its IANA time zone, and the local days, periods and time buckets of Stats
/// API answers. Instants are Unix milliseconds (UTC); ranges are half-open, `[start, end)`.
///
/// Local wall-clock times are resolved with the zone's offset at each instant
/// (`TimeZone.secondsFromGMT(for:)`, about 70 ns on Linux), never with a fixed offset, so local
/// days of 23 or 25 hours, half-hour zones (Asia/Kolkata) and days that start at 01:00 come out
/// right. Only a `TimeZone` is kept: it is a `Sendable` value, safe to share across threads. No
/// `Calendar` is kept: its ICU calls are slower, and how it resolves skipped and repeated local
/// times is less explicit than the rules written here.
///
/// Skipped and repeated wall-clock times: a local time that never occurs (a DST gap) resolves to
/// the instant the clock jumps over it; one that occurs twice resolves to its first occurrence.
/// So every instant belongs to exactly one local day. (Plausible takes the second occurrence of
/// an ambiguous midnight, which leaves an hour in no day; with real zones this never differs.)
public struct SiteCalendar: Sendable, Hashable {
    /// The name the calendar was made with (`Europe/Paris`, `UTC`).
    public let identifier: String
    /// The zone.
    public let timeZone: TimeZone

    /// The calendar of an IANA zone name (`Europe/Paris`); nil when the zone is unknown.
    public init?(timeZone identifier: String) {
        let allowed = { (byte: UInt8) -> Bool in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "/"), UInt8(ascii: "_"),
                 UInt8(ascii: "-"), UInt8(ascii: "+"):
                true
            default: false
            }
        }
        guard (1...64).contains(identifier.utf8.count), identifier.utf8.allSatisfy(allowed),
              !identifier.hasPrefix("/"), !identifier.contains(".."),
              let zone = TimeZone(identifier: identifier)
        else { return nil }
        self.identifier = identifier
        self.timeZone = zone
    }

    /// UTC, the default for sites without a zone.
    public static let utc = SiteCalendar(identifier: "UTC", zone: .gmt)

    private init(identifier: String, zone: TimeZone) {
        self.identifier = identifier
        self.timeZone = zone
    }

    /// The first instant of the local day `day` (usually its midnight; 01:00 where the clock
    /// skips midnight).
    public func startOfDay(_ day: LocalDate) -> Int64 {
        instant(ofWall: Int64(day.daysSince1970) * Self.dayMillis)
    }

    /// The local date at `millis` (instants outside years 1...9999 count as the nearest end).
    public func localDate(of millis: Int64) -> LocalDate {
        LocalDate(daysSince1970: Int(Self.floorDiv(wallClock(at: Self.clamped(millis)), Self.dayMillis)))
    }

    /// `[start of first, start of the day after last)`: the instants of the local days of `span`.
    public func range(_ span: LocalDateSpan) -> TimeRange {
        TimeRange(start: startOfDay(span.first), end: startOfDay(span.last.adding(days: 1)))
    }

    // MARK: Wall-clock arithmetic (internal)

    static let minuteMillis: Int64 = 60_000
    static let hourMillis: Int64 = 3_600_000
    static let dayMillis: Int64 = 86_400_000

    /// The zone's offset from UTC at `millis`, in milliseconds.
    func offset(at millis: Int64) -> Int64 {
        Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(millis) / 1000))) * 1000
    }

    /// The local wall-clock time at `millis`, as milliseconds since 1970-01-01T00:00 local.
    func wallClock(at millis: Int64) -> Int64 {
        millis + offset(at: millis)
    }

    /// The first instant at which the local clock reads `wall`, or, if it never does (a DST
    /// gap), the instant it jumps over `wall`.
    func instant(ofWall wall: Int64) -> Int64 {
        // Offsets are within -12 h...+14 h, so an instant showing `wall` lies in
        // [wall - 14 h, wall + 12 h]; the offsets just outside bound the candidates (this
        // assumes at most one offset change within those 28 hours, true of every real zone
        // except in a few years long gone).
        let before = offset(at: wall - 15 * Self.hourMillis)
        let after = offset(at: wall + 13 * Self.hourMillis)
        let early = wall - before
        let late = wall - after
        var found: Int64? = offset(at: early) == before ? early : nil
        if after != before, offset(at: late) == after { found = min(found ?? late, late) }
        if let found { return found }
        guard before != after else { return early }
        return firstChange(after: min(early, late), through: max(early, late))
    }

    /// The first instant in `(low, high]` whose offset differs from the offset at `low`; the
    /// offsets at `low` and `high` must differ. Offset changes are rare, so a bisection is fine.
    func firstChange(after low: Int64, through high: Int64) -> Int64 {
        let base = offset(at: low)
        var lo = low
        var hi = high
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2
            if offset(at: mid) == base { lo = mid } else { hi = mid }
        }
        return hi
    }

    /// Instants this calendar handles: years 1 to 9999 (UTC), so arithmetic on client input cannot overflow.
    static let supported: ClosedRange<Int64> = -62_135_596_800_000...253_402_300_799_999

    /// `millis` moved into `supported`.
    static func clamped(_ millis: Int64) -> Int64 {
        min(max(millis, supported.lowerBound), supported.upperBound)
    }

    /// `a / b` rounded toward negative infinity (`b` > 0).
    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let quotient = a / b
        return a % b < 0 ? quotient - 1 : quotient
    }
}
