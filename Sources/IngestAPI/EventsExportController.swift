import Hummingbird
import Logging
import NIOConcurrencyHelpers
import Shared

/// Raw events of a site, behind a key with the `events:read` scope (a public site's stats need
/// no key; its raw events do). Errors are Plausible's shape, `{"error": "…"}`.
///
/// - `GET /api/v1/events?site_id=&period=&date=&filters=&limit=&cursor=`: a page of events in
///   `(timestamp, _id)` order, `{"results": […], "next_cursor": "…" | null}`. `period`, `date`
///   and `filters` as in Stats API v1, in the site's time zone (`period=all`: every event up to
///   `date`). Filters are evaluated on each event, `visit:*` conditions on the visit fields
///   stored with it. The cursor is a position, so paging is stable while events arrive: none is
///   shown twice, none present when the walk began is skipped; events arriving later with
///   timestamps behind the cursor are not shown to that walk. A page reads at most
///   `maxScanned` events: past that it is answered short (possibly empty) with a `next_cursor`.
/// - `GET /api/v1/export?site_id=&period=&date=&filters=&format=csv|ndjson`: the same events,
///   streamed as they are read, `chunkRows` at a time, so memory does not grow with the rows.
///   At most `exports` run at once (503 past that); each read has `maxTime` in MongoDB; a
///   client that goes away stops the export. A failure once streaming began cuts the answer
///   short (no final chunk), so a truncated file is never taken for a whole one.
struct EventsExportController: Sendable {
    /// Where the events are.
    let store: MongoStore
    /// Who may read which site.
    let access: StatsAccess
    /// Pages of `/api/v1/events` share the stats queries' gate.
    let gate: BoundedGate
    /// Exports running at once.
    let exports: ExportSlots
    /// Longest one read may run in MongoDB.
    let maxTime: Duration
    /// Most events one page of `/api/v1/events` reads before answering short.
    var maxScanned = 50_000
    /// Events read at a time by an export, and by a filtered page.
    var chunkRows = 1000
    /// The clock periods are resolved against.
    var now: @Sendable () -> Int64 = { Timestamp.nowMillis() }

    /// Largest and default `limit` of `/api/v1/events`.
    static let maxLimit = 1000, defaultLimit = 100

    /// Adds the two routes to `router`.
    func addRoutes(to router: Router<some RequestContext>) {
        router.get("/api/v1/events") { request, context in try await self.events(request, context: context) }
        router.get("/api/v1/export") { request, context in try await self.export(request, context: context) }
    }

    /// What both routes select: a site's events in a period, filtered.
    struct Selection: Sendable {
        var site: Site
        var period: ResolvedPeriod
        var filter: Filter?
    }

    /// Checks access first (401 before 400, as Plausible answers), then the period and filters.
    func selection(_ request: Request) async throws -> Selection {
        let parameters = request.uri.queryParameters
        let site = try await access.authorize(request, siteID: parameters.get("site_id"), scope: APIScope.eventsRead)
        let calendar = SiteCalendar(timeZone: site.timeZone) ?? .utc
        var period: ResolvedPeriod
        do {
            period = try calendar.resolve(v1Period: parameters.get("period"), date: parameters.get("date"), now: now())
        } catch {
            throw StatsRefusal(.badRequest, error.message)
        }
        if parameters.get("period") == "all" {
            // Every event up to the reference day: raw events have no "first day of stats".
            period.range.start = RawEventCursor.instants.lowerBound
            period.dates = nil
        }
        var filter: Filter?
        if let text = parameters.get("filters") {
            do {
                filter = try StatsV1Query.parseFilters(text)
            } catch {
                throw StatsRefusal(error)
            }
            // A raw event knows its own path, not its visit's first or last one.
            if let filter, let property = [Property.entryPage, .exitPage].first(where: filter.reads) {
                throw StatsRefusal(.badRequest, "Raw events cannot be filtered by `\(property.name)`: filter by `event:page`, or ask the Stats API.")
            }
        }
        return Selection(site: site, period: period, filter: filter)
    }

    /// `GET /api/v1/events`: one page and the cursor of the next.
    func events(_ request: Request, context: some RequestContext) async throws -> Response {
        let selection = try await selection(request)
        let parameters = request.uri.queryParameters
        var limit = Self.defaultLimit
        if let text = parameters.get("limit") {
            guard let value = Int(text), (1...Self.maxLimit).contains(value) else {
                throw StatsRefusal(.badRequest, "Please provide limit as a number between 1 and \(Self.maxLimit).")
            }
            limit = value
        }
        let cursor: RawEventCursor?
        do {
            cursor = try parameters.get("cursor").map(RawEventCursor.init(encoded:))
        } catch {
            throw StatsRefusal(error)
        }
        let pageLimit = limit
        let page = try await StatsRefusal.guarded(context) {
            try await gate.run { try await self.page(selection, after: cursor, limit: pageLimit) }
        }
        return JSONBody.response(.ok, .object([
            ("results", .array(page.events.map(\.json))), ("next_cursor", page.next.map { .string($0.encoded) } ?? .null),
        ]))
    }

    /// One page: events passing the filter, at most `limit`, reading at most `maxScanned`.
    func page(_ selection: Selection, after cursor: RawEventCursor?, limit: Int) async throws(MongoError) -> (events: [RawEvent], next: RawEventCursor?) {
        var walk = RawEventWalk(range: selection.period.range, after: cursor)
        var events: [RawEvent] = []
        var scanned = 0
        let fetch = fetcher(siteID: selection.site.domain)
        while !walk.isFinished {
            guard scanned < maxScanned else { return (events, walk.position) }
            let chunk = try await walk.next(limit: selection.filter == nil ? limit - events.count : chunkRows, fetch: fetch)
            for (index, event) in chunk.enumerated() {
                scanned += 1
                guard event.passes(selection.filter) else { continue }
                events.append(event)
                if events.count == limit {
                    let last = index == chunk.count - 1 && walk.isFinished
                    return (events, last ? nil : event.cursor)
                }
            }
        }
        return (events, nil)
    }

    /// `GET /api/v1/export`: every selected event, streamed.
    func export(_ request: Request, context: some RequestContext) async throws -> Response {
        let selection = try await selection(request)
        let text = request.uri.queryParameters.get("format") ?? RawEventFormat.csv.rawValue
        guard let format = RawEventFormat(rawValue: text) else {
            throw StatsRefusal(.badRequest, "Error parsing `format` parameter: use `csv` or `ndjson`.")
        }
        guard let permit = exports.admit() else {
            throw StatsRefusal(.serviceUnavailable, "Too many exports at once. Retry in a minute.", retryAfter: 60)
        }
        var walk = RawEventWalk(range: selection.period.range)
        let fetch = fetcher(siteID: selection.site.domain)
        let (chunkRows, filter, logger) = (self.chunkRows, selection.filter, context.logger)
        // The first chunk is read before answering: a store that is down is still a 503.
        var first = format.header
        let rows = try await StatsRefusal.guarded(context) { try await walk.next(limit: chunkRows, fetch: fetch) }
        for event in rows where event.passes(filter) { format.write(event, into: &first) }
        let started = walk
        let body = ResponseBody { [first] writer in
            var walk = started
            defer { permit.release() }
            do {
                try await writer.write(ByteBuffer(bytes: first))
                while !walk.isFinished {
                    try Task.checkCancellation()
                    var bytes: [UInt8] = []
                    for event in try await walk.next(limit: chunkRows, fetch: fetch) where event.passes(filter) {
                        format.write(event, into: &bytes)
                    }
                    if !bytes.isEmpty { try await writer.write(ByteBuffer(bytes: bytes)) }
                }
                try await writer.finish(nil)
            } catch {
                logger.warning("export cut short", metadata: ["error": "\(error)", "site": "\(selection.site.domain)"])
                throw error
            }
        }
        var headers = HTTPFields()
        headers[.contentType] = format.contentType
        headers[.contentDisposition] = #"attachment; filename="\#(Self.filename(selection, format: format))""#
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: body)
    }

    /// `events-<site>-<first day>-<last day>.<format>`: the site is a domain (A-Z a-z 0-9 . _ -),
    /// so the name needs no escaping.
    static func filename(_ selection: Selection, format: RawEventFormat) -> String {
        let calendar = SiteCalendar(timeZone: selection.site.timeZone) ?? .utc
        let range = selection.period.range
        let last = selection.period.dates?.last ?? calendar.localDate(of: max(range.start, range.end - 1))
        let first = selection.period.dates.map { "\($0.first)" } ?? (range.start == RawEventCursor.instants.lowerBound ? "all" : "\(calendar.localDate(of: range.start))")
        return "events-\(selection.site.domain)-\(first)-\(last).\(format.rawValue)"
    }

    /// Reads for a walk over `siteID`'s events.
    func fetcher(siteID: String) -> @Sendable (RawEventFetch) async throws(MongoError) -> [RawEvent] {
        let (store, maxTime) = (self.store, self.maxTime)
        return { fetch throws(MongoError) in
            try await store.find(
                filterJSON: fetch.filterJSON(siteID: siteID), fields: RawEvent.fields, sortJSON: fetch.sortJSON, limit: fetch.limit,
                maxTime: maxTime, decode: RawEvent.init)
        }
    }
}

/// At most `limit` exports at once. A turn is a `Permit`, given back when the export ends, or
/// when the permit is freed (an answer dropped before its body was written still frees it).
final class ExportSlots: Sendable {
    private let limit: Int
    private let running = NIOLockedValueBox(0)

    /// Slots for `limit` exports at once.
    init(limit: Int) { self.limit = max(1, limit) }

    /// Exports running now.
    var count: Int { running.withLockedValue { $0 } }

    /// A turn, or nil when every slot is taken.
    func admit() -> Permit? {
        let admitted = running.withLockedValue { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
        return admitted ? Permit(self) : nil
    }

    fileprivate func free() { running.withLockedValue { $0 -= 1 } }

    /// One export's turn; `release` is idempotent, and runs when the permit is freed.
    final class Permit: Sendable {
        private let slots: ExportSlots
        private let released = NIOLockedValueBox(false)

        fileprivate init(_ slots: ExportSlots) { self.slots = slots }

        /// Gives the turn back (once).
        func release() {
            let first = released.withLockedValue { released in
                defer { released = true }
                return !released
            }
            if first { slots.free() }
        }

        deinit { release() }
    }
}
