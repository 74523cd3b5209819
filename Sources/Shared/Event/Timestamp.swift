import Foundation

/// Strict parsing of ISO-8601 timestamps and calendar dates, in UTC milliseconds.
public enum Timestamp {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; nil if malformed or without a zone.
    public static func parseISO8601(_ text: String) -> Int64? {
        var text = text
        return text.withUTF8 { parseISO8601(bytes: $0[...]) }
    }

    /// `parseISO8601` over UTF-8 bytes (a `String.UTF8View` walk cost twice as much).
    private static func parseISO8601(bytes: Bytes) -> Int64? {
        var s = bytes
        guard let days = parseDate(&s), let separator = s.popFirst(),
              separator == UInt8(ascii: "T") || separator == UInt8(ascii: "t")
        else { return nil }
        guard let hour = digits(&s, 2), s.popFirst() == UInt8(ascii: ":"),
              let minute = digits(&s, 2), s.popFirst() == UInt8(ascii: ":"),
              let second = digits(&s, 2), hour < 24, minute < 60, second < 61
        else { return nil }
        var millis: Int64 = 0
        if s.first == UInt8(ascii: ".") || s.first == UInt8(ascii: ",") {
            s.removeFirst()
            var scale: Int64 = 100
            var count = 0
            while let c = s.first, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") {
                millis += Int64(c - UInt8(ascii: "0")) * scale
                scale /= 10
                count += 1
                s.removeFirst()
            }
            guard count > 0, count <= 9 else { return nil }
        }
        guard let zone = s.popFirst() else { return nil }
        var offsetMinutes: Int64 = 0
        switch zone {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            break
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard let oh = digits(&s, 2), oh < 24 else { return nil }
            if s.first == UInt8(ascii: ":") { s.removeFirst() }
            guard let om = digits(&s, 2), om < 60 else { return nil }
            offsetMinutes = Int64(oh * 60 + om) * (zone == UInt8(ascii: "-") ? -1 : 1)
        default:
            return nil
        }
        guard s.isEmpty else { return nil }
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + min(second, 59)) - offsetMinutes * 60
        // An offset can move 0000-01-01 or 9999-12-31 out of four-digit years, which
        // `formatISO8601` cannot write back (so `revalidate` would refuse the event).
        guard (-62_167_219_200..<253_402_300_800).contains(seconds) else { return nil }
        return seconds * 1000 + millis
    }

    /// Parses a calendar date `YYYY-MM-DD` into the UTC milliseconds of its midnight.
    public static func parseDay(_ text: String) -> Int64? {
        var text = text
        return text.withUTF8 { bytes in
            var s = bytes[...]
            guard let days = parseDate(&s), s.isEmpty else { return nil }
            return days * 86_400_000
        }
    }

    private typealias Bytes = Slice<UnsafeBufferPointer<UInt8>>

    /// Formats UTC milliseconds as `YYYY-MM-DD`.
    public static func formatDay(_ millis: Int64) -> String {
        let days = millis >= 0 ? millis / 86_400_000 : (millis - 86_399_999) / 86_400_000
        let (y, m, d) = civil(fromDays: days)
        func pad(_ v: Int64, _ width: Int) -> String {
            let text = String(v)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))"
    }

    /// Now, in Unix milliseconds.
    public static func nowMillis() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }

    /// Formats UTC milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    public static func formatISO8601(_ millis: Int64) -> String {
        let inDay = ((millis % 86_400_000) + 86_400_000) % 86_400_000
        func pad(_ v: Int64, _ width: Int) -> String {
            let text = String(v)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return formatDay(millis) + "T\(pad(inDay / 3_600_000, 2)):\(pad(inDay / 60_000 % 60, 2)):\(pad(inDay / 1000 % 60, 2)).\(pad(inDay % 1000, 3))Z"
    }

    private static func parseDate(_ s: inout Bytes) -> Int64? {
        guard let year = digits(&s, 4), s.popFirst() == UInt8(ascii: "-"),
              let month = digits(&s, 2), s.popFirst() == UInt8(ascii: "-"),
              let day = digits(&s, 2), (1...12).contains(month), day >= 1,
              day <= daysInMonth(year: year, month: month)
        else { return nil }
        return days(fromCivil: Int64(year), Int64(month), Int64(day))
    }

    private static func digits(_ s: inout Bytes, _ count: Int) -> Int? {
        var value = 0
        for _ in 0..<count {
            guard let c = s.first, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(c - UInt8(ascii: "0"))
            s.removeFirst()
        }
        return value
    }

    private static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days from 1970-01-01 to a civil date (Howard Hinnant's days_from_civil).
    static func days(fromCivil y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The civil date (year, month, day) `z0` days after 1970-01-01 (Howard Hinnant's civil_from_days).
    static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? yoe + era * 400 + 1 : yoe + era * 400, m, d)
    }
}
