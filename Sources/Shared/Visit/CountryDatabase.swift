#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CGeoIP
import CMaxMindDB
import NIOConcurrencyHelpers

/// Maps a client address to its country (ISO 3166-1 alpha-2), from Debian's GeoIP databases or a MaxMind .mmdb.
///
/// `@unchecked Sendable`: the C handles are opened in `init`, never replaced, and freed in
/// `deinit`; no C pointer leaves the type. After open:
/// - libmaxminddb reads a read-only `mmap` and takes the handle as `const MMDB_s *`; its manual
///   says "This library is thread safe when compiled and linked with a thread-safe malloc and free".
/// - legacy libGeoIP's README says "Lookups are thread safe [...] open database with
///   GEOIP_MEMORY_CACHE" (so `_check_mtime` never reloads: no `GEOIP_CHECK_CACHE`), and the `_gl`
///   calls report the netmask through the caller's `GeoIPLookup`. But 1.6.12's
///   `_GeoIP_seek_record_gl` still also stores it in the shared handle (`gi->netmask = gl->netmask
///   = …`), a write two threads can race on; the legacy lookups therefore hold `legacyLock`.
public final class CountryDatabase: @unchecked Sendable, CustomStringConvertible {
    /// Where the data comes from.
    public enum Source: Sendable, Equatable {
        /// Legacy GeoIP country databases (Debian's `geoip-database`): an IPv4 file and an IPv6 file.
        case debianGeoIP(v4: String, v6: String)
        /// A MaxMind DB file with `country`/`registered_country` maps (GeoIP2/GeoLite2 Country or City).
        case maxMind(path: String)
    }

    /// Opens Debian's databases at their install paths.
    public static let debianDefault: Source = .debianGeoIP(v4: "/usr/share/GeoIP/GeoIP.dat", v6: "/usr/share/GeoIP/GeoIPv6.dat")

    /// Describes the source for logs (file names, database build date if available).
    public let description: String

    /// Longest text `country(of:)` looks at: an IPv6 address with an embedded IPv4 is at most 45.
    static let maxAddressLength = 64

    private enum Backend {
        /// Legacy handles plus the country code of every legacy country id (nil: not a country).
        case legacy(v4: UnsafeMutablePointer<GeoIP>, v6: UnsafeMutablePointer<GeoIP>, codes: [String?])
        /// A heap-allocated, opened `MMDB_s`.
        case maxMind(UnsafeMutablePointer<MMDB_s>)
    }

    private let backend: Backend
    /// Serializes legacy lookups (see the type's comment); unused for MaxMind.
    private let legacyLock = NIOLock()

    /// Opens the database; throws `CountryDatabaseError` (a typed error saying which file and what to do) when it cannot be opened.
    public init(_ source: Source) throws(CountryDatabaseError) {
        switch source {
        case .debianGeoIP(let v4Path, let v6Path):
            let v4 = try Self.openLegacy(v4Path, editions: [GEOIP_COUNTRY_EDITION, GEOIP_LARGE_COUNTRY_EDITION], kind: "IPv4")
            let v6: (handle: UnsafeMutablePointer<GeoIP>, info: String)
            do {
                v6 = try Self.openLegacy(v6Path, editions: [GEOIP_COUNTRY_EDITION_V6, GEOIP_LARGE_COUNTRY_EDITION_V6], kind: "IPv6")
            } catch {
                GeoIP_delete(v4.handle)
                throw error
            }
            backend = .legacy(v4: v4.handle, v6: v6.handle, codes: Self.legacyCodes())
            description = "GeoIP legacy country databases \(v4Path) (\(v4.info)), \(v6Path) (\(v6.info))"
        case .maxMind(let path):
            try Self.checkReadable(path)
            let handle = UnsafeMutablePointer<MMDB_s>.allocate(capacity: 1)
            let status = MMDB_open(path, UInt32(MMDB_MODE_MMAP), handle)
            guard status == MMDB_SUCCESS else {
                // On failure libmaxminddb has freed whatever it allocated; the struct is ours.
                handle.deallocate()
                throw CountryDatabaseError(path: path, problem: .invalid(String(cString: MMDB_strerror(status))))
            }
            backend = .maxMind(handle)
            description = "MaxMind DB \(path) (\(Self.maxMindInfo(handle.pointee.metadata)))"
        }
    }

    deinit {
        switch backend {
        case .legacy(let v4, let v6, _):
            GeoIP_delete(v4)
            GeoIP_delete(v6)
        case .maxMind(let handle):
            MMDB_close(handle)
            handle.deallocate()
        }
    }

    /// The country code ("US", "DE", …) for an IPv4 or IPv6 address in text form, nil when unknown, private, or not an address. Untrusted input: never crashes.
    ///
    /// Only a bare address is accepted (no port, brackets, zone or surrounding spaces); an
    /// IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) is looked up as its IPv4 address. Legacy
    /// pseudo-countries "A1" (anonymous proxy), "A2" (satellite) and "O1" (other) give nil;
    /// "EU" and "AP" (networks legacy GeoIP only placed in Europe or Asia/Pacific) are kept:
    /// they still say where the visitor roughly is, and a dashboard can show them as regions.
    public func country(of address: String) -> String? {
        guard let parsed = Self.parse(address) else { return nil }
        switch backend {
        case .legacy(let v4, let v6, let codes):
            var lookup = GeoIPLookup()
            let id: Int32 = legacyLock.withLock {
                switch parsed {
                case .v4(let address):
                    // GeoIP wants the address as a host-order number; 0.0.0.0 answers 0 ("--").
                    GeoIP_id_by_ipnum_gl(v4, UInt(UInt32(bigEndian: address.s_addr)), &lookup)
                case .v6(let address):
                    GeoIP_id_by_ipnum_v6_gl(v6, address, &lookup)
                }
            }
            guard id >= 0, Int(id) < codes.count else { return nil }
            return codes[Int(id)]
        case .maxMind(let handle):
            var error: Int32 = 0
            let result: MMDB_lookup_result_s
            switch parsed {
            case .v4(let address):
                var socket = sockaddr_in()
                socket.sin_family = sa_family_t(AF_INET)
                socket.sin_addr = address
                result = withUnsafePointer(to: &socket) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { MMDB_lookup_sockaddr(handle, $0, &error) }
                }
            case .v6(let address):
                var socket = sockaddr_in6()
                socket.sin6_family = sa_family_t(AF_INET6)
                socket.sin6_addr = address
                result = withUnsafePointer(to: &socket) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { MMDB_lookup_sockaddr(handle, $0, &error) }
                }
            }
            guard error == MMDB_SUCCESS, result.found_entry else { return nil }
            var entry = result.entry
            return Self.isoCode(in: &entry, under: "country") ?? Self.isoCode(in: &entry, under: "registered_country")
        }
    }

    // MARK: - Input

    private enum ParsedAddress {
        case v4(in_addr)
        case v6(in6_addr)
    }

    /// `inet_pton`, strict (dotted quad only for IPv4), after bounding the length and refusing NUL
    /// (which would cut the C string short); IPv4-mapped IPv6 becomes IPv4.
    private static func parse(_ text: String) -> ParsedAddress? {
        guard !text.isEmpty, text.utf8.count <= maxAddressLength, !text.utf8.contains(0) else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return .v4(v4) }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let mapped: in_addr? = withUnsafeBytes(of: &v6) { bytes in
            guard bytes.prefix(10).allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF else { return nil }
            var address = in_addr()
            withUnsafeMutableBytes(of: &address) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[12..<16])) }
            return address
        }
        if let mapped { return .v4(mapped) }
        return .v6(v6)
    }

    /// Two ASCII capital letters, or nil ("--", "A1", "O1", "", anything odd in a database).
    private static func countryCode(_ bytes: some Collection<UInt8>) -> String? {
        guard bytes.count == 2, bytes.allSatisfy({ $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: - Legacy GeoIP

    /// Opens a legacy database of one of `editions`, and reads its info line (which has the build date).
    private static func openLegacy(
        _ path: String, editions: [GeoIPDBTypes], kind: String
    ) throws(CountryDatabaseError) -> (handle: UnsafeMutablePointer<GeoIP>, info: String) {
        try checkReadable(path)
        // MEMORY_CACHE: the whole file is read once; SILENCE: failures are reported by our error.
        let flags = Int32(bitPattern: GEOIP_MEMORY_CACHE.rawValue | GEOIP_SILENCE.rawValue)
        guard let handle = GeoIP_open(path, flags) else {
            throw CountryDatabaseError(path: path, problem: .invalid("libGeoIP cannot open it"))
        }
        // libGeoIP takes any file without a structure marker for an IPv4 country database and
        // then answers from whatever bytes it holds; a real one also carries an info line.
        guard let infoPointer = GeoIP_database_info(handle) else {
            GeoIP_delete(handle)
            throw CountryDatabaseError(path: path, problem: .invalid("no GeoIP database info: not a GeoIP .dat file"))
        }
        let info = String(cString: infoPointer)
        free(infoPointer)
        let edition = UInt32(GeoIP_database_edition(handle))
        guard editions.contains(where: { $0.rawValue == edition }) else {
            // Checked here because a lookup in the wrong edition prints to stdout and answers 0.
            GeoIP_delete(handle)
            throw CountryDatabaseError(path: path, problem: .invalid("not a GeoIP \(kind) country database (edition \(edition))"))
        }
        return (handle, info)
    }

    /// The code of every legacy country id, nil for those that name no country.
    private static func legacyCodes() -> [String?] {
        (0..<Int32(GeoIP_num_countries())).map { id in
            guard let code = GeoIP_code_by_id(id) else { return nil }
            return countryCode(UnsafeBufferPointer(start: code, count: strnlen(code, 3)).map { UInt8(bitPattern: $0) })
        }
    }

    // MARK: - MaxMind

    /// `container`/`iso_code` when it is a two-letter UTF-8 string.
    private static func isoCode(in entry: inout MMDB_entry_s, under container: String) -> String? {
        var data = MMDB_entry_data_s()
        guard cmaxminddb_iso_code(&entry, &data, container) == MMDB_SUCCESS, data.has_data,
            data.type == UInt32(MMDB_DATA_TYPE_UTF8_STRING), data.data_size == 2, let start = data.utf8_string
        else { return nil }
        // Not NUL-terminated: a pointer into the database with `data_size` bytes.
        return start.withMemoryRebound(to: UInt8.self, capacity: 2) { countryCode(UnsafeBufferPointer(start: $0, count: 2)) }
    }

    /// "GeoIP2-Country, built 2024-05-31".
    private static func maxMindInfo(_ metadata: MMDB_metadata_s) -> String {
        let type = metadata.database_type.map { String(cString: $0) } ?? "unknown type"
        guard metadata.build_epoch > 0, var seconds = time_t(exactly: metadata.build_epoch) else { return type }
        var parts = tm()
        guard gmtime_r(&seconds, &parts) != nil else { return type }
        let date = "\(parts.tm_year + 1900)-\(twoDigits(parts.tm_mon + 1))-\(twoDigits(parts.tm_mday))"
        return "\(type), built \(date)"
    }

    private static func twoDigits(_ value: Int32) -> String {
        value < 10 ? "0\(value)" : "\(value)"
    }

    // MARK: - Files

    /// A regular file we may read, or the error saying why not (before any C library sees it).
    private static func checkReadable(_ path: String) throws(CountryDatabaseError) {
        guard !path.isEmpty, !path.utf8.contains(0) else {
            throw CountryDatabaseError(path: path, problem: .missing)
        }
        var status = stat()
        guard stat(path, &status) == 0 else {
            let code = errno
            throw CountryDatabaseError(path: path, problem: code == ENOENT || code == ENOTDIR ? .missing : .unreadable(String(cString: strerror(code))))
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw CountryDatabaseError(path: path, problem: .unreadable("not a regular file"))
        }
        guard access(path, R_OK) == 0 else {
            throw CountryDatabaseError(path: path, problem: .unreadable(String(cString: strerror(errno))))
        }
    }
}

/// Why a country database could not be opened: which file, what is wrong with it, and what to do.
public struct CountryDatabaseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong with the file.
    public enum Problem: Sendable, Equatable {
        /// There is no file at that path.
        case missing
        /// The file is there but cannot be read (permissions, a directory, …); the system's reason.
        case unreadable(String)
        /// The file is readable but is not a database of the expected kind; the library's reason.
        case invalid(String)
    }

    /// The file that could not be opened.
    public var path: String
    /// What is wrong with it.
    public var problem: Problem

    /// Creates an error for `path`.
    public init(path: String, problem: Problem) {
        self.path = path
        self.problem = problem
    }

    /// One line for logs and startup failures: the file, the problem, and the fix.
    public var description: String {
        let what: String
        switch problem {
        case .missing: what = "no such file"
        case .unreadable(let reason): what = "cannot read it (\(reason))"
        case .invalid(let reason): what = "not a usable country database (\(reason))"
        }
        return "country database \(path): \(what); install the geoip-database package (scripts/setup does) "
            + "for /usr/share/GeoIP, or set GEOIP_DB to a readable MaxMind .mmdb file"
    }
}
