extension Duration {
    /// Whole nanoseconds (saturating far beyond any timeout we use).
    public var totalNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds.multipliedReportingOverflow(by: 1_000_000_000).overflow
            ? .max : seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// Whole milliseconds, for Redis TTLs and logs.
    public var totalMilliseconds: Int64 { totalNanoseconds / 1_000_000 }

    /// Seconds as a floating-point number, for Redis timeouts that take decimals.
    public var totalSeconds: Double { Double(totalNanoseconds) / 1e9 }
}
