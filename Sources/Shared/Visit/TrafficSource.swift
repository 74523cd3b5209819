/// The five UTM parameters of a page URL.
public struct UTM: Sendable, Equatable {
    /// `utm_medium`.
    public var medium: String?
    /// `utm_source`.
    public var source: String?
    /// `utm_campaign`.
    public var campaign: String?
    /// `utm_content`.
    public var content: String?
    /// `utm_term`.
    public var term: String?

    /// Creates UTM values as given (no cleaning).
    public init(medium: String? = nil, source: String? = nil, campaign: String? = nil, content: String? = nil, term: String? = nil) {
        self.medium = medium
        self.source = source
        self.campaign = campaign
        self.content = content
        self.term = term
    }

    /// The query parameters read for UTM, in `init(values:)`'s order.
    static let names = ["utm_medium", "utm_source", "utm_campaign", "utm_content", "utm_term"]

    /// From the values of `names` (missing ones nil), each cleaned by `TrafficSource.clean`.
    init(values: [String?]) {
        func value(_ position: Int) -> String? { position < values.count ? TrafficSource.clean(values[position]) : nil }
        self.init(medium: value(0), source: value(1), campaign: value(2), content: value(3), term: value(4))
    }
}

/// Where a visit came from: what a dashboard shows as source, referrer and UTM.
public struct TrafficSource: Sendable, Equatable {
    /// The source name; `TrafficSource.direct` ("Direct / None") when nothing names one.
    public var source: String
    /// Host and path of the referrer: no scheme, "www." or query; nil for none, unparseable or internal.
    public var referrer: String?
    /// The page's UTM parameters.
    public var utm: UTM

    /// The source of a visit that nothing names.
    public static let direct = "Direct / None"
    /// The longest query-parameter value kept (UTM values, `source`, `ref`), in UTF-8 bytes.
    public static let maxValueBytes = 256

    /// Creates a traffic source from values already cleaned.
    public init(source: String, referrer: String?, utm: UTM) {
        self.source = source
        self.referrer = referrer
        self.utm = utm
    }

    /// The query parameters that name a source: the UTM ones, then the `source` and `ref` fallbacks.
    private static let sourceParameters = UTM.names + ["source", "ref"]

    /// The traffic source of a page view at `page` whose document referrer is `referrer` (raw, untrusted; may be empty, garbage, or not a URL).
    ///
    /// Source: the page's `utm_source`, `source` or `ref` (first non-empty after cleaning); else the referrer
    /// host's name in `SourceNames`; else the referrer host without "www."; else "Direct / None". A referrer
    /// on the page's own host (ignoring "www." and a trailing dot) is internal and counts as none.
    /// A referrer that does not parse as a `PageURL` (including one over 2,000 bytes) counts as none.
    public static func classify(page: PageURL?, referrer: String?) -> TrafficSource {
        // One pass over the query for the UTM parameters and the `source` and `ref` fallbacks.
        let values = page?.queryValues(sourceParameters) ?? []
        let utm = UTM(values: values)
        let named: String? = page.flatMap { _ in
            if let source = utm.source { return source }
            return values.dropFirst(UTM.names.count).lazy.compactMap { clean($0) }.first
        }
        guard let referrer, !referrer.isEmpty, let parsed = PageURL.parse(referrer) else {
            return TrafficSource(source: named ?? direct, referrer: nil, utm: utm)
        }
        let host = bareHost(parsed.hostname)
        if let page, bareHost(page.hostname) == host {
            return TrafficSource(source: named ?? direct, referrer: nil, utm: utm)
        }
        let source = named ?? SourceNames.name(forHost: parsed.hostname) ?? host
        return TrafficSource(source: source, referrer: host + trimTrailingSlashes(parsed.path), utm: utm)
    }

    /// A query value as stored: control characters (Unicode Cc) removed, whitespace trimmed, cut to
    /// `maxValueBytes` on a scalar boundary; nil when nothing is left.
    static func clean(_ value: String?) -> String? {
        guard let value, !value.isEmpty else { return nil }
        // Printable ASCII with no space at either end is kept as it is (the common case).
        let utf8 = value.utf8
        if utf8.count <= maxValueBytes, utf8.first != UInt8(ascii: " "), utf8.last != UInt8(ascii: " "),
           utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) {
            return value
        }
        var scalars: [Unicode.Scalar] = []
        var bytes = 0
        for scalar in value.unicodeScalars where scalar.properties.generalCategory != .control {
            if scalars.isEmpty, scalar.properties.isWhitespace { continue }
            bytes += UTF8.width(scalar)
            guard bytes <= maxValueBytes else { break }
            scalars.append(scalar)
        }
        while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() }
        guard !scalars.isEmpty else { return nil }
        var result = String.UnicodeScalarView()
        result.append(contentsOf: scalars)
        return String(result)
    }

    /// A parsed hostname as compared and shown: without a trailing "." and one leading "www." (never empty).
    static func bareHost(_ hostname: String) -> String {
        var host = Substring(hostname)
        if host.hasSuffix(".") { host = host.dropLast() }
        if host.hasPrefix("www."), host.utf8.count > 4 { host = host.dropFirst(4) }
        return host.isEmpty ? hostname : String(host)
    }

    /// A path without trailing slashes: a referrer at a site's root is its host alone, as Plausible shows it.
    static func trimTrailingSlashes(_ path: String) -> String {
        var path = Substring(path)
        while path.hasSuffix("/") { path = path.dropLast() }
        return String(path)
    }
}
