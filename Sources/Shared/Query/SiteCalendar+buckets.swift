/// The width of a time bucket: Plausible's v1 `interval` and v2 `time:*` dimensions. (Not
/// `TimeInterval`, which Foundation already names.)
public enum StatsInterval: String, Sendable, Hashable, CaseIterable {
    /// Local wall-clock minutes.
    case minute
    /// Local wall-clock hours.
    case hour
    /// Local days.
    case day
    /// Local weeks, Monday to Sunday.
    case week
    /// Calendar months.
    case month

    /// Parses a v1 `interval`: `minute`, `hour`, `day` (or its old name `date`), `week`, `month`.
    public init?(v1 text: String) {
        if text == "date" {
            self = .day
        } else if let interval = Self(rawValue: text) {
            self = interval
        } else {
            return nil
        }
    }
}

/// One time bucket of a time series: its instants and its label in the site's zone.
public struct TimeBucket: Sendable, Hashable {
    /// The first instant, Unix milliseconds.
    public var start: Int64
    /// The first instant after the bucket.
    public var end: Int64
    /// The label: `YYYY-MM-DD HH:MM:00` (minute), `YYYY-MM-DD HH:00:00` (hour), `YYYY-MM-DD`
    /// (day; week: its Monday, or the range's first day when the Monday is before it; month: its
    /// first day). A wall-clock hour that occurs twice (the hour the clocks go back) gives two
    /// buckets, each label qualified with its UTC offset (`2024-10-27 02:00:00+02:00`, then
    /// `…+01:00`), so labels stay unique; an hour the clocks skip gives no bucket.
    public var label: String

    /// A bucket from its parts.
    public init(start: Int64, end: Int64, label: String) {
        self.start = start
        self.end = end
        self.label = label
    }

    /// The index of the bucket of `buckets` (in order, as `SiteCalendar.buckets` returns them)
    /// that holds `millis`, or nil (binary search).
    public static func index(of millis: Int64, in buckets: [TimeBucket]) -> Int? {
        var low = 0
        var high = buckets.count
        while low < high {
            let mid = (low + high) / 2
            if buckets[mid].end <= millis { low = mid + 1 } else { high = mid }
        }
        guard low < buckets.count, buckets[low].start <= millis else { return nil }
        return low
    }
}

extension SiteCalendar {
    /// The buckets covering `range` for `interval`, in order, contiguous, none missing (empty
    /// ones included); the first and last are clipped to the range. Cost is per bucket (a few
    /// zone look-ups each), never per hour of the range.
    ///
    /// Every instant `t` of a bucket has `bucketStart(of: t, interval:) == bucketStart(of:
    /// bucket.start, interval:)`, which is `bucket.start` unless the bucket was clipped.
    ///
    /// At most `maxBuckets` are returned (the first ones): check `estimatedBucketCount` first
    /// and refuse a query that asks for more. Instants outside years 1...9999 are clipped off.
    public func buckets(_ range: TimeRange, interval: StatsInterval) -> [TimeBucket] {
        let range = TimeRange(start: Self.clamped(range.start), end: Self.clamped(range.end))
        guard range.start < range.end else { return [] }
        switch interval {
        case .minute: return wallClockBuckets(range, unit: Self.minuteMillis, minutes: true)
        case .hour: return wallClockBuckets(range, unit: Self.hourMillis, minutes: false)
        case .day, .week, .month: return dateBuckets(range, interval: interval)
        }
    }

    /// The most buckets `buckets(_:interval:)` returns (a year of hours is 8,784; a day of minutes 1,440).
    public static let maxBuckets = 100_000

    /// An upper bound of the number of buckets of `range` (nominal bucket lengths, plus the
    /// pieces DST changes and clipping can add), computed without building them.
    public func estimatedBucketCount(_ range: TimeRange, interval: StatsInterval) -> Int {
        let nominal: Int64 = switch interval {
        case .minute: Self.minuteMillis
        case .hour: Self.hourMillis
        case .day: Self.dayMillis - 3 * Self.hourMillis
        case .week: 7 * Self.dayMillis - 3 * Self.hourMillis
        case .month: 28 * Self.dayMillis - 3 * Self.hourMillis
        }
        let length = Self.clamped(range.end) - Self.clamped(range.start)
        guard length > 0 else { return 0 }
        let pieces = length / nominal + 2
        return Int(interval == .minute || interval == .hour ? pieces + pieces / 1000 + 2 : pieces)
    }

    /// The start of the (unclipped) bucket holding `millis`: the first instant of its local
    /// minute, hour, day, week (Monday) or month. Use it to assign an event to a bucket.
    public func bucketStart(of millis: Int64, interval: StatsInterval) -> Int64 {
        let millis = Self.clamped(millis)
        switch interval {
        case .minute, .hour:
            let unit = interval == .minute ? Self.minuteMillis : Self.hourMillis
            let offset = offset(at: millis)
            let candidate = Self.floorDiv(millis + offset, unit) * unit - offset
            // An offset change inside the wall-clock unit (a 30-minute DST shift, or the hour
            // the clocks jump) starts the bucket at the change.
            return self.offset(at: candidate) == offset ? candidate : firstChange(after: candidate, through: millis)
        case .day: return startOfDay(localDate(of: millis))
        case .week: return startOfDay(localDate(of: millis).monday)
        case .month: return startOfDay(localDate(of: millis).firstOfMonth)
        }
    }

    /// Minute or hour buckets: pieces of the wall-clock grid with one UTC offset each.
    private func wallClockBuckets(_ range: TimeRange, unit: Int64, minutes: Bool) -> [TimeBucket] {
        var buckets: [TimeBucket] = []
        buckets.reserveCapacity(Int(min(range.duration / unit + 2, Int64(Self.maxBuckets))))
        var offsets: [Int64] = []
        var start = range.start
        while start < range.end && buckets.count < Self.maxBuckets {
            let offset = offset(at: start)
            let wallStart = Self.floorDiv(start + offset, unit) * unit
            var end = wallStart + unit - offset
            if self.offset(at: end - 1) != offset { end = firstChange(after: start, through: end - 1) }
            end = min(max(end, start + 1), range.end)
            buckets.append(TimeBucket(start: start, end: end, label: Self.wallLabel(wallStart, minutes: minutes)))
            offsets.append(offset)
            start = end
        }
        // A wall-clock time seen twice (clocks going back) would give two equal labels.
        var seen: [String: Int] = [:]
        for bucket in buckets { seen[bucket.label, default: 0] += 1 }
        if seen.count < buckets.count {
            for index in buckets.indices where seen[buckets[index].label, default: 0] > 1 {
                buckets[index].label += Self.offsetSuffix(offsets[index])
            }
        }
        return buckets
    }

    /// Day, week or month buckets: one local-day boundary look-up each.
    private func dateBuckets(_ range: TimeRange, interval: StatsInterval) -> [TimeBucket] {
        let firstDay = localDate(of: range.start)
        var date: LocalDate
        switch interval {
        case .week: date = firstDay.monday
        case .month: date = firstDay.firstOfMonth
        default: date = firstDay
        }
        var buckets: [TimeBucket] = []
        var start = range.start
        while start < range.end && buckets.count < Self.maxBuckets {
            let next: LocalDate
            switch interval {
            case .week: next = date.adding(days: 7)
            case .month: next = date.adding(months: 1)
            default: next = date.adding(days: 1)
            }
            let boundary = startOfDay(next)
            defer { date = next }
            guard boundary > start else { continue }  // a local day the zone skipped (Pacific/Apia, 2011-12-30)
            let end = min(boundary, range.end)
            // Plausible labels a week by its Monday, or by the range's first day when the Monday is before it.
            let label = interval == .week && start == range.start ? firstDay : date
            buckets.append(TimeBucket(start: start, end: end, label: label.description))
            start = end
        }
        return buckets
    }

    /// `YYYY-MM-DD HH:MM:00` (or `HH:00:00`) of a wall-clock time in milliseconds.
    private static func wallLabel(_ wall: Int64, minutes: Bool) -> String {
        let day = LocalDate(daysSince1970: Int(floorDiv(wall, dayMillis)))
        let inDay = wall - floorDiv(wall, dayMillis) * dayMillis
        let hour = Int(inDay / hourMillis)
        let minute = minutes ? Int(inDay / minuteMillis % 60) : 0
        return day.description + " " + LocalDate.pad(hour, 2) + ":" + LocalDate.pad(minute, 2) + ":00"
    }

    /// `+HH:MM` (or `+HH:MM:SS` for the odd historical offset) of an offset in milliseconds.
    private static func offsetSuffix(_ offset: Int64) -> String {
        let seconds = Int(offset.magnitude / 1000)
        let text = (offset < 0 ? "-" : "+") + LocalDate.pad(seconds / 3600, 2) + ":" + LocalDate.pad(seconds / 60 % 60, 2)
        return seconds % 60 == 0 ? text : text + ":" + LocalDate.pad(seconds % 60, 2)
    }
}
