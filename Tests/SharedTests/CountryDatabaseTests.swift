import Foundation
import Testing

@testable import Shared

/// Country lookups from Debian's legacy GeoIP databases and from a MaxMind DB built by the test.
struct CountryDatabaseTests {
    /// Addresses of large, long-lived national networks, and what the installed GeoIP.dat /
    /// GeoIPv6.dat (geoip-database 20230203+really20191224) answer for them.
    @Test(arguments: [
        ("8.8.8.8", "US"),  // Google Public DNS
        ("80.128.0.1", "DE"),  // Deutsche Telekom 80.128.0.0/11
        ("217.0.0.1", "DE"),  // Deutsche Telekom 217.0.0.0/13
        ("153.128.0.1", "JP"),  // NTT OCN
        ("203.178.141.194", "JP"),  // WIDE Project
        ("81.2.69.142", "GB"),  // MaxMind's own GB test address
        ("200.160.2.3", "BR"),  // NIC.br
        ("2001:4860:4860::8888", "US"),  // Google Public DNS
        ("2003::1", "DE"),  // Deutsche Telekom 2003::/19
        ("2001:200::1", "JP"),  // WIDE Project
        ("::ffff:8.8.8.8", "US"),  // IPv4-mapped: looked up in the IPv4 database
        ("::FFFF:80.128.0.1", "DE"),
        ("::ffff:5080:1", "DE"),  // the same address, mapped and written in hex
    ])
    func debianDatabasesKnowLargeNetworks(address: String, country: String) throws {
        #expect(try Fixture.debian().country(of: address) == country)
    }

    @Test(arguments: [
        "10.0.0.1", "127.0.0.1", "192.168.1.1", "172.16.0.1", "100.64.0.1", "169.254.1.1",
        "0.0.0.0", "255.255.255.255", "::", "::1", "fe80::1", "fc00::1", "2001:db8::1", "::ffff:10.0.0.1",
    ])
    func privateAndReservedAddressesHaveNoCountry(address: String) throws {
        #expect(try Fixture.debian().country(of: address) == nil)
    }

    /// Only a bare address is looked up: anything else is nil, and nothing crashes.
    @Test(arguments: [
        "", " ", "8.8.8", "8.8.8.8.8", "8.8.8.256", "08.8.8.8", "0x8.8.8.8", "8.8.8.8 ", " 8.8.8.8",
        "8.8.8.8:53", "[2001:4860:4860::8888]", "[2001:4860:4860::8888]:53", "2001:4860:4860::8888%eth0",
        "8.8.8.0/24", "８.８.８.８", "2001:4860:4860:::8888", "dns.google", "localhost", "::ffff:8.8.8.8.8",
        "%n%n%n%n%s%s", "🇩🇪",
    ])
    func textThatIsNotAnAddressHasNoCountry(text: String) throws {
        #expect(try Fixture.debian().country(of: text) == nil)
        #expect(try Fixture.maxMind().country(of: text) == nil)
    }

    /// Kept out of the test's arguments so the log does not print them: NULs (which would cut
    /// a C string short) and 10,000-byte strings.
    @Test func nulAndOversizedTextHaveNoCountry() throws {
        let texts = [
            "8.8.8.8\u{0}", "8.8.8.8\u{0}garbage", "\u{0}8.8.8.8", String(repeating: "1", count: 10_000),
            "8.8.8.8" + String(repeating: " ", count: 9_993), String(repeating: "2001:4860:4860::8888", count: 500),
            "2001:4860:4860:0000:0000:0000:0000:8888" + String(repeating: "0", count: 30),
        ]
        for text in texts {
            #expect(try Fixture.debian().country(of: text) == nil)
            #expect(try Fixture.maxMind().country(of: text) == nil)
        }
    }

    @Test func debianDescriptionNamesBothFilesAndTheBuild() throws {
        let database = try Fixture.debian()
        #expect(database.description.contains("/usr/share/GeoIP/GeoIP.dat ("))
        #expect(database.description.contains("/usr/share/GeoIP/GeoIPv6.dat ("))
        #expect(database.description.contains("Build"))
    }

    // MARK: - MaxMind

    /// The fixture (Tests/Fixtures/make_test_mmdb.pl): 203.0.113.0/24 NZ, 2001:db8::/32 SE,
    /// 198.51.100.0/24 only a registered_country CA; IPv4 lives in an IPv6 tree.
    @Test(arguments: [
        ("203.0.113.5", "NZ"),
        ("203.0.113.0", "NZ"),
        ("203.0.113.255", "NZ"),
        ("::ffff:203.0.113.5", "NZ"),  // IPv4-mapped: looked up as IPv4
        ("2002:cb00:7105::1", "NZ"),  // 6to4 for 203.0.113.5: the writer's alias_ipv6_to_ipv4
        ("2001:db8::1", "SE"),
        ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "SE"),
        ("198.51.100.7", "CA"),  // no "country": falls back to "registered_country"
    ])
    func maxMindDatabaseAnswersFromCountryThenRegisteredCountry(address: String, country: String) throws {
        #expect(try Fixture.maxMind().country(of: address) == country)
    }

    @Test(arguments: ["203.0.112.255", "203.0.114.0", "8.8.8.8", "10.0.0.1", "2001:db9::1", "2001:db7:ffff::1", "::1", "::ffff:8.8.8.8"])
    func maxMindDatabaseHasNoCountryOutsideItsNetworks(address: String) throws {
        #expect(try Fixture.maxMind().country(of: address) == nil)
    }

    @Test func maxMindDescriptionNamesFileTypeAndBuildDate() throws {
        let database = try Fixture.maxMind()
        #expect(database.description.hasPrefix("MaxMind DB /"))
        #expect(database.description.contains(/\/test-country\.mmdb \(GeoIP2-Country, built \d{4}-\d{2}-\d{2}\)$/))
    }

    /// Many tasks share one database of each kind and all get the same answers.
    @Test func concurrentLookupsAgree() async throws {
        let legacy = try Fixture.debian()
        let maxMind = try Fixture.maxMind()
        let wrong = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var wrong = 0
                    for _ in 0..<2_000 {
                        if legacy.country(of: "80.128.0.1") != "DE" { wrong += 1 }
                        if legacy.country(of: "2001:200::1") != "JP" { wrong += 1 }
                        if maxMind.country(of: "203.0.113.5") != "NZ" { wrong += 1 }
                        if maxMind.country(of: "2001:db8::1") != "SE" { wrong += 1 }
                    }
                    return wrong
                }
            }
            return await group.reduce(0, +)
        }
        #expect(wrong == 0)
    }

    // MARK: - Opening

    @Test func missingDebianFileNamesItAndTheFix() {
        let missing = "/nonexistent/GeoIP.dat"
        let error = openError(.debianGeoIP(v4: missing, v6: "/usr/share/GeoIP/GeoIPv6.dat"))
        #expect(error?.path == missing)
        #expect(error?.problem == .missing)
        let message = error.map { "\($0)" } ?? ""
        #expect(message.contains(missing))
        #expect(message.contains("geoip-database"))
        #expect(message.contains("GEOIP_DB"))
    }

    @Test func missingIPv6FileIsTheOneNamed() {
        let missing = "/nonexistent/GeoIPv6.dat"
        let error = openError(.debianGeoIP(v4: "/usr/share/GeoIP/GeoIP.dat", v6: missing))
        #expect(error?.path == missing)
        #expect(error?.problem == .missing)
    }

    @Test func missingMaxMindFileNamesItAndTheFix() {
        let missing = "/nonexistent/dir/GeoLite2-Country.mmdb"
        let error = openError(.maxMind(path: missing))
        #expect(error == CountryDatabaseError(path: missing, problem: .missing))
        let message = error.map { "\($0)" } ?? ""
        #expect(message.contains(missing) && message.contains("geoip-database") && message.contains("GEOIP_DB"))
    }

    @Test func filesOfTheWrongKindAreRefused() throws {
        // The two Debian files swapped, a legacy file as a MaxMind DB, an empty file, a directory.
        let swapped = openError(.debianGeoIP(v4: "/usr/share/GeoIP/GeoIPv6.dat", v6: "/usr/share/GeoIP/GeoIP.dat"))
        #expect(swapped?.path == "/usr/share/GeoIP/GeoIPv6.dat")
        #expect(isInvalid(swapped))

        let legacyAsMaxMind = openError(.maxMind(path: "/usr/share/GeoIP/GeoIP.dat"))
        #expect(legacyAsMaxMind?.path == "/usr/share/GeoIP/GeoIP.dat")
        #expect(isInvalid(legacyAsMaxMind))

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("country-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let empty = directory.appendingPathComponent("empty.mmdb").path
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        #expect(isInvalid(openError(.maxMind(path: empty))))
        #expect(isInvalid(openError(.debianGeoIP(v4: empty, v6: "/usr/share/GeoIP/GeoIPv6.dat"))))
        // libGeoIP itself opens any file without a structure marker as an IPv4 country database.
        let text = directory.appendingPathComponent("text.dat").path
        #expect(FileManager.default.createFile(atPath: text, contents: Data(repeating: UInt8(ascii: "x"), count: 4096)))
        #expect(isInvalid(openError(.debianGeoIP(v4: text, v6: "/usr/share/GeoIP/GeoIPv6.dat"))))

        let notAFile = openError(.maxMind(path: directory.path))
        #expect(notAFile == CountryDatabaseError(path: directory.path, problem: .unreadable("not a regular file")))
    }

    private func openError(_ source: CountryDatabase.Source) -> CountryDatabaseError? {
        do {
            _ = try CountryDatabase(source)
            return nil
        } catch {
            return error
        }
    }

    private func isInvalid(_ error: CountryDatabaseError?) -> Bool {
        if case .invalid = error?.problem { return true }
        return false
    }
}

/// The databases the tests share, opened once per test process: Debian's, and a MaxMind DB
/// written by `Tests/Fixtures/make_test_mmdb.pl` (Perl's MaxMind::DB::Writer) into a temporary
/// directory that is removed again once the file is open (the mapping outlives the name).
private enum Fixture {
    private static let debianResult = Result { () throws(CountryDatabaseError) in try CountryDatabase(CountryDatabase.debianDefault) }
    private static let maxMindResult = buildMaxMind()

    /// Debian's GeoIP.dat and GeoIPv6.dat.
    static func debian() throws(CountryDatabaseError) -> CountryDatabase { try debianResult.get() }

    /// The test .mmdb; throws (failing the test, never skipping it) when it could not be built.
    static func maxMind() throws(FixtureError) -> CountryDatabase { try maxMindResult.get() }

    private static func buildMaxMind() -> Result<CountryDatabase, FixtureError> {
        let perl = "/usr/bin/perl"
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/make_test_mmdb.pl").path
        guard FileManager.default.isExecutableFile(atPath: perl) else {
            return .failure(FixtureError("\(perl) is missing: run scripts/setup (it installs perl and libmaxmind-db-writer-perl)"))
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("country-mmdb-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("test-country.mmdb").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: perl)
        process.arguments = [script, output]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try process.run()
        } catch {
            return .failure(FixtureError("cannot run \(perl) \(script): \(error); run scripts/setup"))
        }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            return .failure(FixtureError(
                "cannot build the test .mmdb: run scripts/setup (it installs libmaxmind-db-writer-perl); "
                    + "\(script) exited \(process.terminationStatus): \(message.trimmingCharacters(in: .whitespacesAndNewlines))"))
        }
        do {
            return .success(try CountryDatabase(.maxMind(path: output)))
        } catch {
            return .failure(FixtureError("\(script) wrote a database that does not open: \(error)"))
        }
    }
}

/// Why the MaxMind fixture could not be built, and what to do about it.
private struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
