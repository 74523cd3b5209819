import Crypto
import Testing

@testable import Shared

/// What a key looks like, what is stored of it, how an `Authorization` header is read (hostile
/// values included), which scopes a key may hold and which sites and time zones are accepted.
struct APIKeyTests {
    static let key = "pk_" + String(repeating: "0123456789abcdef", count: 4)

    @Test func aNewKeyIsPkAnd64LowercaseHexDigitsAndNeverRepeats() {
        let keys = (0..<100).map { _ in APIKeySecret.generate() }
        for key in keys {
            #expect(key.hasPrefix("pk_"))
            #expect(key.utf8.count == 67)
            #expect(key.dropFirst(3).allSatisfy { "0123456789abcdef".contains($0) })
            #expect(APIKeySecret.isWellFormed(key))
        }
        #expect(Set(keys).count == keys.count)
    }

    @Test func onlyTheSHA256OfTheKeyIsStoredAndItsIdIsTheFirst8HexDigits() {
        let expected = SHA256.hash(data: Array(Self.key.utf8)).map { String($0, radix: 16).leftPadded(to: 2) }.joined()
        #expect(APIKeySecret.hash(Self.key) == expected)
        #expect(APIKeySecret.hash(Self.key).utf8.count == 64)
        #expect(APIKeySecret.hash(Self.key) != APIKeySecret.hash(Self.key.uppercased()))
        #expect(APIKeySecret.id(of: Self.key) == "01234567")
        #expect(APIKeySecret.isWellFormedID("01234567"))
        #expect(!APIKeySecret.isWellFormedID("0123456"))
        #expect(!APIKeySecret.isWellFormedID("-1234567"))
        #expect(!APIKeySecret.isWellFormedID("0123456G"))
    }

    @Test(arguments: [
        ("Bearer KEY", BearerCredential.key(key)),
        ("bearer KEY", .key(key)),
        ("BEARER \t KEY \t", .key(key)),
        ("  Bearer KEY", .key(key)),
    ])
    func aBearerKeyIsReadWhateverTheCaseOfTheSchemeAndTheBlanks(header: String, expected: BearerCredential) {
        let value = header.replacingOccurrences(of: "KEY", with: Self.key)
        #expect(BearerCredential.parse(authorization: [value]) == expected)
    }

    @Test(arguments: ["", "Bearer", "Bearer ", "Bearer \t ", "Basic dXNlcjpwYXNz", "Token KEY", "BearerKEY", "Bearerish KEY"])
    func noBearerTokenMeansNoKeyWasOffered(header: String) {
        let value = header.replacingOccurrences(of: "KEY", with: Self.key)
        #expect(BearerCredential.parse(authorization: [value]) == .missing)
        #expect(BearerCredential.parse(authorization: []) == .missing)
    }

    static let hostile: [String] = [
        "Bearer pk_short",
        "Bearer " + key.uppercased(),
        "Bearer " + key + "0",
        "Bearer " + key + " extra",
        "Bearer " + String(key.dropLast()) + "\u{0}",
        "Bearer " + String(key.dropLast()) + "é",
        "Bearer " + key + "\r\nX-Injected: 1",
        "Bearer {\"$ne\": null}",
        "Bearer " + String(repeating: "a", count: 1025),
        "Bearer " + String(repeating: "\u{1F600}", count: 2000),
        "Bearer ../../etc/passwd",
    ]

    @Test(arguments: hostile)
    func aTokenThatCannotBeAKeyIsMalformedAndNeverLookedUp(header: String) {
        #expect(BearerCredential.parse(authorization: [header]) == .malformed)
    }

    @Test func twoAuthorizationHeadersAreRefused() {
        #expect(BearerCredential.parse(authorization: ["Bearer " + Self.key, "Bearer " + Self.key]) == .malformed)
    }

    @Test func scopesAreCheckedAgainstTheKnownListAndDefaultToStatsRead() throws {
        #expect(try APIScope.validated([]) == ["stats:read"])
        #expect(try APIScope.validated(["events:read", "stats:read", "events:read"]) == ["events:read", "stats:read"])
        #expect(throws: AccessError.unknownScope("stats:write")) { try APIScope.validated(["stats:read", "stats:write"]) }
        #expect(throws: AccessError.unknownScope("*")) { try APIScope.validated(["*"]) }
        #expect(AccessError.unknownScope("x").description.contains("stats:read"))
    }

    @Test func aKeyReadsOnlyItsSitesWithItsScopesUntilRevoked() {
        var key = APIKey(hash: "h", id: "01234567", name: "n", sites: ["a.com"], allSites: false, scopes: ["stats:read"], createdAt: 1)
        #expect(key.covers(site: "a.com"))
        #expect(!key.covers(site: "b.com"))
        #expect(key.allows(scope: APIScope.statsRead))
        #expect(!key.allows(scope: APIScope.eventsRead))
        key.allSites = true
        #expect(key.covers(site: "b.com"))
        key.revokedAt = 2
        #expect(!key.allows(scope: APIScope.statsRead))
    }

    @Test func sitesAreCheckedLikeSiteIDsAndTimeZonesAreIANANames() throws {
        let site = try Site.make(domain: "shop.example-1_a", timeZone: "Europe/Paris", isPublic: true, createdAt: 5)
        #expect(site.timeZone == "Europe/Paris")
        #expect(try Site.make(domain: "a", createdAt: 0).timeZone == "UTC")
        for domain in ["", "a/b", "a b", "$where", String(repeating: "a", count: 65), "é.com"] {
            #expect(throws: AccessError.invalidDomain(domain)) { try Site.make(domain: domain, createdAt: 0) }
        }
        for zone in ["", "Mars/Olympus", "Europe/Paris\u{0}", "../../etc/passwd"] {
            #expect(throws: AccessError.invalidTimeZone(zone)) { try Site.make(domain: "a", timeZone: zone, createdAt: 0) }
        }
        #expect(AccessError.invalidTimeZone("x").description.contains("Europe/Paris"))
    }

    @Test func settingsAreReadAsBooleansAndDurations() throws {
        let environment = Environment(["A": "TRUE", "B": "off", "C": "maybe", "D": "90s", "E": "soon"])
        #expect(try environment.bool("A", default: false))
        #expect(try !environment.bool("B", default: true))
        #expect(try environment.bool("UNSET", default: true))
        #expect(throws: ConfigurationError.self) { try environment.bool("C", default: false) }
        #expect(try environment.duration("D", default: .seconds(1)) == .seconds(90))
        #expect(try environment.duration("UNSET", default: .seconds(3600)) == .seconds(3600))
        #expect(throws: ConfigurationError.self) { try environment.duration("E", default: .seconds(1)) }
    }
}

extension String {
    /// The string with zeros in front up to `length` characters.
    fileprivate func leftPadded(to length: Int) -> String {
        String(repeating: "0", count: max(0, length - count)) + self
    }
}
