import Metrics
import Shared

extension EventWorker {
    /// Turns what ingest captured (`client`) into what a stored event carries (`visit`): the
    /// visitor, the visit, the page's host, the visit's source, the browser, system, device and
    /// country. One Redis script call per batch places the events in visits; the salt of each
    /// receive day is read once per process. The address and raw user agent are dropped here,
    /// so no retry payload, dead letter or document holds them. Events already enriched (a
    /// retry, a summary, a replay) are left as they are. When Redis fails, `events` are left
    /// as they were.
    func enrich(_ events: inout [QueuedEvent]) async throws(RedisError) {
        var pending: [(position: Int, derived: DerivedVisit)] = []
        var requests: [SessionRequest] = []
        var received: [Int64] = []
        var hashers: [Int64: VisitorHasher] = [:]  // per receive day: its salt read, its key set up, once per batch
        let now = clock()
        func hasher(_ day: Int64) async throws(RedisError) -> VisitorHasher {
            if let known = hashers[day] { return known }
            let made = VisitorHasher(salt: try await visits.salt(day: day, now: now))
            hashers[day] = made
            return made
        }
        for (position, item) in events.enumerated() where item.stored.event.visit == nil {
            let event = item.stored.event
            let day = Throttle.day(of: event.receivedAt)
            let identity: VisitorIdentity
            if let userID = event.userID {
                identity = .named(userID: userID)
            } else {
                identity = .anonymous(today: try await hasher(day), yesterday: try await hasher(day - 1))
            }
            let derived = DerivedVisit(event, identity: identity, countries: countries)
            pending.append((position, derived))
            requests.append(SessionRequest(
                siteID: event.siteID, visitorID: derived.visitorID, previousVisitorID: derived.previousVisitorID, timestamp: event.timestamp,
                freshID: VisitTracker.sessionID(visitorID: derived.visitorID, seed: event.eventID), attributes: derived.attributes))
            received.append(event.receivedAt)
        }
        guard !requests.isEmpty else { return }
        let assignments = try await visits.assign(requests, receivedAt: received)
        var untracked = 0
        for ((position, derived), assignment) in zip(pending, assignments) {
            if !assignment.tracked { untracked += 1 }
            events[position].stored.event.visit = derived.fields(in: assignment)
            events[position].stored.event.client = nil
        }
        if untracked > 0 {
            WorkerMetrics.visitUntracked(count: untracked)
            logger.debug("events placed in visits without state (table full, or back-dated)", metadata: ["events": "\(untracked)"])
        }
    }
}

/// How an event's visitor is told apart.
enum VisitorIdentity {
    /// The client named its user (`userid`): the same visitor every day, no salt.
    case named(userID: String)
    /// Anonymous: hashed under the salts of the receive day and of the day before.
    case anonymous(today: VisitorHasher, yesterday: VisitorHasher)
}

/// What one event says about its visit before the visit is known.
struct DerivedVisit {
    var visitorID: Int64
    /// The visitor under the previous day's salt; nil for a named user (the same every day).
    var previousVisitorID: Int64?
    var hostname: String?
    var attributes: VisitAttributes
    var userAgent: UserAgentInfo
    var country: String?

    /// Parses the captured URL, referrer and user agent and looks the address up.
    init(_ event: Event, identity: VisitorIdentity, countries: CountryDatabase?) {
        let client = event.client ?? ClientContext()
        let page = client.url.flatMap { PageURL.parse($0) }
        hostname = page?.hostname
        attributes = VisitAttributes(TrafficSource.classify(page: page, referrer: client.ref))
        userAgent = UserAgentClassifier.classify(client.ua ?? "")
        country = client.ip.flatMap { countries?.country(of: $0) }
        switch identity {
        case .named(let userID):
            visitorID = VisitTracker.namedVisitorID(siteID: event.siteID, userID: userID)
            previousVisitorID = nil
        case .anonymous(let today, let yesterday):
            let visitor = { (hasher: VisitorHasher) in hasher.visitorID(siteID: event.siteID, address: client.ip ?? "", userAgent: client.ua ?? "") }
            visitorID = visitor(today)
            previousVisitorID = visitor(yesterday)
        }
    }

    /// The stored fields once the visit is known: its id and its first event's source.
    func fields(in assignment: SessionAssignment) -> VisitFields {
        let visit = assignment.attributes
        return VisitFields(
            visitorID: assignment.visitorID, sessionID: assignment.sessionID, hostname: hostname, referrer: visit.referrer, source: visit.source,
            utmMedium: visit.utmMedium, utmSource: visit.utmSource, utmCampaign: visit.utmCampaign, utmContent: visit.utmContent,
            utmTerm: visit.utmTerm, browser: userAgent.browser, browserVersion: userAgent.browserVersion, os: userAgent.os,
            osVersion: userAgent.osVersion, device: userAgent.device.rawValue, country: country)
    }
}
