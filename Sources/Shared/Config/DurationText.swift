/// Durations as people write them on a command line: `500ms`, `60s`, `5m`, `1h`, `7d`.
public enum DurationText {
    /// Parses a positive whole number with a unit (`ms`, `s`, `m`, `h`, `d`); nil if malformed.
    public static func parse(_ text: String) -> Duration? {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        for (unit, millis) in units where text.hasSuffix(unit) {
            let number = text.dropLast(unit.count)
            // "5ms" also ends in "s": the number part must then be all digits.
            guard !number.isEmpty, number.allSatisfy(\.isASCII), let value = Int64(number), value > 0 else { continue }
            let (total, overflow) = value.multipliedReportingOverflow(by: millis)
            return overflow ? nil : .milliseconds(total)
        }
        return nil
    }

    /// The shortest exact form: `90s`, `2m`, `1500ms`.
    public static func format(_ duration: Duration) -> String {
        let millis = duration.totalMilliseconds
        for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] where millis % size == 0 && millis > 0 {
            return "\(millis / size)\(unit)"
        }
        return "\(millis)ms"
    }
}
