import Foundation

/// A site whose stats can be read: its domain (the `site_id` events carry), the time zone its
/// periods and buckets are counted in, and whether anyone may read its stats without a key.
///
/// Adding a site is optional for ingest: events of a site never added are stored as well, and
/// a key for all sites reads them in UTC.
public struct Site: Sendable, Equatable {
    /// The domain, the same value as events' `site_id`; the `_id` in the `sites` collection.
    public var domain: String
    /// The IANA time zone, e.g. `Europe/Paris`; `UTC` by default.
    public var timeZone: String
    /// True when anyone may read its stats, with no key (`Worker sites add --public`).
    public var isPublic: Bool
    /// When it was added, Unix milliseconds (0 for a site that was never added).
    public var createdAt: Int64

    /// A site from validated parts; use `Site.make` for input a person typed.
    public init(domain: String, timeZone: String = Site.defaultTimeZone, isPublic: Bool = false, createdAt: Int64 = 0) {
        self.domain = domain
        self.timeZone = timeZone
        self.isPublic = isPublic
        self.createdAt = createdAt
    }

    /// The time zone of a site that was never added.
    public static let defaultTimeZone = "UTC"

    /// A site from what a person typed, checked: the domain like a `site_id` (1–64 characters of
    /// A-Z a-z 0-9 . _ -), the time zone a known IANA name.
    public static func make(domain: String, timeZone: String = defaultTimeZone, isPublic: Bool = false, createdAt: Int64) throws(AccessError) -> Site {
        guard isValidDomain(domain) else { throw .invalidDomain(domain) }
        guard isValidTimeZone(timeZone) else { throw .invalidTimeZone(timeZone) }
        return Site(domain: domain, timeZone: timeZone, isPublic: isPublic, createdAt: createdAt)
    }

    /// The site read for `domain` when it was never added: UTC, not public.
    public static func unlisted(_ domain: String) -> Site {
        Site(domain: domain)
    }

    /// True for 1–64 characters of A-Z a-z 0-9 . _ - (the rule ingest applies to `site_id`).
    public static func isValidDomain(_ domain: String) -> Bool {
        !domain.isEmpty && domain.utf8.count <= 64 && domain.utf8.allSatisfy(EventValidator.siteIDCharacters.contains)
    }

    /// True for an IANA time zone name Foundation knows (`Europe/Paris`, `UTC`); abbreviations
    /// such as `CET` or offsets such as `GMT+2` are refused, since they do not follow DST rules.
    public static func isValidTimeZone(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 64, name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return false }
        guard TimeZone(identifier: name) != nil else { return false }
        return name == "UTC" || TimeZone.knownTimeZoneIdentifiers.contains(name)
    }
}

/// Why a site or key command or lookup failed; each message says what to do.
public enum AccessError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The domain is not 1–64 characters of A-Z a-z 0-9 . _ -.
    case invalidDomain(String)
    /// The time zone is not an IANA name.
    case invalidTimeZone(String)
    /// `sites add` for a domain already added.
    case siteExists(String)
    /// A key name that is empty, too long or holds control characters.
    case invalidKeyName(String)
    /// A scope not in `APIScope.all`.
    case unknownScope(String)
    /// `keys create` with neither sites nor all sites, or with both.
    case invalidKeySites(String)
    /// `keys revoke` with an id that is not 8 lowercase hex digits.
    case invalidKeyID(String)
    /// No key has this id.
    case keyNotFound(String)
    /// The key was revoked already.
    case keyAlreadyRevoked(String)
    /// Every id tried for a new key was taken (32 random bits each: practically never).
    case noFreeKeyID

    /// What went wrong and how to fix it.
    public var description: String {
        switch self {
        case .invalidDomain(let domain):
            "\(EventValidator.printable(domain).debugDescription) is not a site domain: use 1-64 characters of A-Z a-z 0-9 . _ - (the site_id events carry)"
        case .invalidTimeZone(let name):
            "\(EventValidator.printable(name).debugDescription) is not an IANA time zone: use a name such as UTC, Europe/Paris or America/New_York"
        case .siteExists(let domain): "site \(domain) is added already; delete it first to change it"
        case .invalidKeyName(let reason): "invalid key name: \(reason)"
        case .unknownScope(let scope):
            "unknown scope \(EventValidator.printable(scope).debugDescription): use one of \(APIScope.all.joined(separator: ", "))"
        case .invalidKeySites(let reason): "invalid key sites: \(reason)"
        case .invalidKeyID(let id): "\(EventValidator.printable(id).debugDescription) is not a key id: give the 8 hex digits `keys list` shows"
        case .keyNotFound(let id): "no key has id \(id); `keys list` shows the ids"
        case .keyAlreadyRevoked(let id): "key \(id) is revoked already"
        case .noFreeKeyID: "no free key id was found; run keys create again"
        }
    }
}
