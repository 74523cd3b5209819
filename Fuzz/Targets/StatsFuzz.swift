// libFuzzer target `stats`: the Stats API request parsers, all of them client input. The first
// byte picks the parser, the rest is its input:
//   `a`, `t`, `b`: a v1 query string (`name=value&…`) for StatsV1Query (aggregate, timeseries,
//                  breakdown), then its plan in UTC and Europe/Paris at a fixed now;
//   `j`: a v2 body for StatsQueryJSON.parse, StatsV2Query and its plan (both calendars);
//   `c`: a `cursor` for RawEventCursor(encoded:);
//   `p`: a query string whose `period` and `date` go to SiteCalendar.resolve(v1Period:date:now:).
// Any other first byte picks one of these by its value. Every plan is rendered with an empty
// engine answer, which must be JSON. Built and run by scripts/fuzz; crashes land in
// .build/fuzz/artifacts/stats/.
import Foundation

/// A fixed now, 2026-03-29T01:30:00Z: half an hour after Paris moved to summer time.
private let now: Int64 = 1_774_747_800_000
private let statsStart = LocalDate(parsing: "2024-01-01")
private let calendars: [SiteCalendar] = [.utc] + (SiteCalendar(timeZone: "Europe/Paris").map { [$0] } ?? [])
private let empty = StatsResult(rows: [], plan: QueryPlanStats())

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    guard let selector = bytes.first else { return 0 }
    let rest = Array(bytes.dropFirst())
    let modes: [UInt8] = Array("atbjcp".utf8)
    let mode = modes.contains(selector) ? selector : modes[Int(selector) % modes.count]
    switch mode {
    case UInt8(ascii: "a"): checkV1(.aggregate, parameters(rest))
    case UInt8(ascii: "t"): checkV1(.timeseries, parameters(rest))
    case UInt8(ascii: "b"): checkV1(.breakdown, parameters(rest))
    case UInt8(ascii: "j"): checkV2(rest)
    case UInt8(ascii: "c"): checkCursor(String(decoding: rest, as: UTF8.self))
    default: checkPeriod(parameters(rest))
    }
    return 0
}

/// `a=b&c=d` as a router reads it: percent-decoded, `+` left alone, first value of a name wins
/// (as the `head` target splits a query string).
private func parameters(_ bytes: [UInt8]) -> [String: String] {
    var parameters: [String: String] = [:]
    for pair in String(decoding: bytes, as: UTF8.self).split(separator: "&") {
        let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        let name = String(parts[0]).removingPercentEncoding ?? String(parts[0])
        let value = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? String(parts[1])) : ""
        if parameters[name] == nil { parameters[name] = value }
    }
    return parameters
}

private func checkError(_ error: StatsAPIError, statuses: Set<Int> = [400]) {
    fuzzCheck(!error.message.isEmpty, "StatsAPIError without a message")
    fuzzCheck(statuses.contains(error.status), "StatsAPIError status \(error.status): \(error.message)")
    checkJSON(error.json, "error body")
}

/// The answer body is JSON that JSONSerialization reads.
private func checkJSON(_ value: JSONValue, _ what: @autoclosure () -> String) {
    let text = value.serialized
    fuzzCheck((try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) != nil, "\(what()) is not JSON:\n\(text)")
}

private func checkFilter(_ filter: Filter?) {
    guard let filter else { return }
    let size = filter.size
    fuzzCheck(size.conditions <= Filter.maxConditions && size.depth <= Filter.maxDepth, "filter of \(size.conditions) conditions, depth \(size.depth)")
}

/// Buckets in order, contiguous, inside the range, no more than estimated; one key per bucket.
private func checkBuckets(_ buckets: [TimeBucket], range: TimeRange, interval: StatsInterval, calendar: SiteCalendar) {
    fuzzCheck(buckets.count <= calendar.estimatedBucketCount(range, interval: interval),
              "\(buckets.count) \(interval) buckets over \(range), estimated \(calendar.estimatedBucketCount(range, interval: interval))")
    for (index, bucket) in buckets.enumerated() {
        fuzzCheck(bucket.start < bucket.end && bucket.start >= range.start && bucket.end <= range.end, "bucket \(bucket) outside \(range)")
        if index > 0 { fuzzCheck(buckets[index - 1].end == bucket.start, "buckets \(buckets[index - 1]) and \(bucket) not contiguous") }
    }
}

// MARK: - v1

private func checkV1(_ endpoint: StatsV1Query.Endpoint, _ parameters: [String: String]) {
    let query: StatsV1Query
    do {
        query = try StatsV1Query(endpoint, parameters: parameters)
    } catch {
        checkError(error)
        return
    }
    fuzzCheck(query.siteID == parameters["site_id"] && !query.siteID.isEmpty, "site_id \(query.siteID.debugDescription)")
    fuzzCheck(!query.metrics.isEmpty && Set(query.metrics).count == query.metrics.count, "metrics \(query.metrics)")
    fuzzCheck((1...StatsV1Query.maxLimit).contains(query.limit) && query.page >= 1 && query.offset >= 0, "limit \(query.limit) page \(query.page)")
    fuzzCheck((query.property != nil) == (endpoint == .breakdown), "property \(String(describing: query.property)) for \(endpoint)")
    if case .custom(let first, let last) = query.period { fuzzCheck(first <= last, "custom \(first),\(last)") }
    checkFilter(query.filter)
    if let text = parameters["filters"] {
        do {
            fuzzCheck(try StatsV1Query.parseFilters(text) == query.filter, "filters parsed twice differ")
        } catch {
            fuzzFail("filters accepted once, refused alone: \(error)")
        }
    }
    for calendar in calendars {
        let plan: StatsV1Plan
        do {
            plan = try query.plan(calendar: calendar, now: now)
        } catch {
            checkError(error)
            continue
        }
        let range = plan.request.range
        fuzzCheck(range.start < range.end, "v1 plan range \(range) for \(query.period)")
        fuzzCheck(plan.request.filter == query.filter && plan.request.siteID == query.siteID, "plan request differs from query")
        fuzzCheck((plan.interval != nil) == (endpoint == .timeseries), "interval \(String(describing: plan.interval)) for \(endpoint)")
        if let interval = plan.interval { checkBuckets(plan.buckets, range: range, interval: interval, calendar: calendar) }
        fuzzCheck(plan.bucketKeys.count == plan.buckets.count, "\(plan.bucketKeys.count) keys for \(plan.buckets.count) buckets")
        if let previous = plan.previous {
            fuzzCheck(query.compare && previous.range.start < previous.range.end, "previous range \(previous.range)")
        }
        checkJSON(plan.render(empty, previous: plan.previous.map { _ in empty }), "v1 answer")
    }
}

// MARK: - v2

private func checkV2(_ body: [UInt8]) {
    let json: StatsQueryJSON
    do {
        json = try StatsQueryJSON.parse(body)
    } catch {
        checkError(error, statuses: [400, 413])
        return
    }
    checkJSON(json.json, "parsed body")
    let query: StatsV2Query
    do {
        query = try StatsV2Query(json)
    } catch {
        checkError(error)
        return
    }
    fuzzCheck(StatsV2Query.siteID(of: json) == query.siteID && !query.siteID.isEmpty, "site_id \(query.siteID.debugDescription)")
    fuzzCheck(!query.metrics.isEmpty && Set(query.metrics).count == query.metrics.count, "metrics \(query.metrics)")
    fuzzCheck(query.dimensions.count <= StatsV2Query.maxDimensions, "\(query.dimensions.count) dimensions")
    fuzzCheck((1...StatsV2Query.maxLimit).contains(query.limit) && query.offset >= 0, "limit \(query.limit) offset \(query.offset)")
    checkFilter(query.filter)
    for entry in query.order ?? [] {
        if case .dimension(let index) = entry.field { fuzzCheck(query.dimensions.indices.contains(index), "order_by dimension \(index)") }
    }
    for calendar in calendars {
        let plan: StatsV2Plan
        do {
            plan = try query.plan(calendar: calendar, now: now, statsStart: statsStart)
        } catch {
            checkError(error)
            fuzzCheck(error.message.hasPrefix("#/date_range"), "v2 plan error not about the date range: \(error.message)")
            continue
        }
        let range = plan.request.range
        fuzzCheck(range.start < range.end, "v2 plan range \(range) for \(query.dateRange)")
        fuzzCheck(plan.request.dimensions.count == query.dimensions.count, "plan dimensions differ from query")
        fuzzCheck((plan.interval != nil) == (query.timeIndex != nil), "interval \(String(describing: plan.interval)) for \(query.dimensions)")
        if let interval = plan.interval { checkBuckets(plan.buckets, range: range, interval: interval, calendar: calendar) }
        checkJSON(plan.render(empty), "v2 answer")
    }
}

// MARK: - Cursors and periods

private func checkCursor(_ text: String) {
    let cursor: RawEventCursor
    do {
        cursor = try RawEventCursor(encoded: text)
    } catch {
        checkError(error)
        return
    }
    fuzzCheck(RawEventCursor.instants.contains(cursor.timestamp), "cursor at \(cursor.timestamp)")
    fuzzCheck(cursor.id.map { (1...RawEventCursor.maxIDBytes).contains($0.utf8.count) } ?? true, "cursor id \(String(describing: cursor.id))")
    let encoded = cursor.encoded
    do {
        fuzzCheck(try RawEventCursor(encoded: encoded) == cursor, "cursor \(text) -> \(encoded) reads back differently")
    } catch {
        fuzzFail("cursor \(text) -> \(encoded) refused: \(error)")
    }
}

private func checkPeriod(_ parameters: [String: String]) {
    for calendar in calendars {
        let resolved: ResolvedPeriod
        do {
            resolved = try calendar.resolve(v1Period: parameters["period"], date: parameters["date"], now: now)
        } catch {
            fuzzCheck(!error.message.isEmpty && !error.isRetryable, "QueryError \(error)")
            continue
        }
        fuzzCheck(resolved.range.start < resolved.range.end, "resolved range \(resolved.range) of \(parameters)")
        if let dates = resolved.dates {
            fuzzCheck(dates.first <= dates.last && calendar.range(dates) == resolved.range, "dates \(dates) vs range \(resolved.range)")
        }
    }
}
