import Foundation
import HTTPTypes
import HummingbirdOTP
import Logging
import Postgres
import ProvisionAccounts
import ProvisionModel
@testable import ProvisionConsole
import ProvisionStore
import ProvisionTestSupport
import Testing

/// Sessions and what guards them: the cookie's attributes, CSRF, the sign-in throttle,
/// idle and absolute expiry, signing out, the second factor and the audit log.
@Suite struct ConsoleSessionTests {
    let north = ConsoleHarness.north

    @Test func theSessionCookieIsHttpOnlyAndStrictAndOnlyItsHashIsStored() async throws {
        let harness = try await ConsoleHarness.make("session-cookie")
        try await harness.user("senco@north.example", .senco, schools: [north])
        try await harness.run { browser in
            let page = try await browser.signIn("senco@north.example")
            #expect(page.status == .seeOther)
            let cookie = try #require(page.headers[values: .setCookie].first)
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"))
            #expect(!cookie.contains("Secure"), "plain HTTP on loopback: no Secure flag, or the browser would drop it")
            let token = try #require(browser.cookie)
            let stored = try await harness.db { db in
                try await db.query("SELECT token_hash FROM console_sessions").rows.map { try $0.decode("token_hash", as: String.self) }
            }
            #expect(stored == [Secrets.stored(token)])
        }
    }

    @Test func wrongPasswordsAndUnknownAddressesGetTheSameAnswer() async throws {
        let harness = try await ConsoleHarness.make("session-wrong")
        try await harness.user("senco@north.example", .senco, schools: [north])
        try await harness.run { browser in
            let wrong = try await browser.signIn("senco@north.example", password: "not the password at all")
            let unknown = try await browser.signIn("nobody@north.example", password: "not the password at all")
            #expect(wrong.status == .unauthorized && unknown.status == .unauthorized)
            #expect(wrong.body.contains("do not match an account") && unknown.body.contains("do not match an account"))
            #expect(browser.cookie == nil)
        }
    }

    @Test func changesThroughACookieSessionNeedTheCSRFToken() async throws {
        let harness = try await ConsoleHarness.make("session-csrf")
        try await harness.user("senco@north.example", .senco, schools: [north])
        let alert = try await harness.alertID(school: north)
        try await harness.run { browser in
            try await browser.signIn("senco@north.example")
            let withoutToken = try await browser.request(
                .post, "/api/v1/alerts/\(alert)/acknowledge", json: .object(["note": .string("x")]), sendCSRF: false)
            #expect(withoutToken.status == .forbidden)
            let wrongToken = try await browser.request(
                .post, "/api/v1/alerts/\(alert)/acknowledge", json: .object(["note": .string("x")]),
                headers: [.init("X-CSRF-Token")!: "forged"], sendCSRF: false)
            #expect(wrongToken.status == .forbidden)
            let formWithout = try await browser.request(
                .post, "/schools/\(north)/alerts/\(alert)", form: ["answer": "acknowledged", "note": "x"], sendCSRF: false)
            #expect(formWithout.status == .forbidden)
            let signOutWithout = try await browser.request(.post, "/logout", form: [:], sendCSRF: false)
            #expect(signOutWithout.status == .forbidden, "a forged sign-out is refused too")
            #expect(try await harness.db { try await $0.query("SELECT answer FROM alerts WHERE id = $1", alert).scalar(as: String?.self) } == nil)
            let form = try await browser.request(.post, "/schools/\(north)/alerts/\(alert)", form: ["answer": "acknowledged", "note": "seen"])
            #expect(form.status == .seeOther && form.location == "/schools/\(north)")
        }
        let answer = try await harness.db { try await $0.query("SELECT answer FROM alerts WHERE id = $1", alert).scalar(as: String?.self) }
        #expect(answer == "acknowledged")
    }

    @Test func failedSignInsAreThrottledPerAccountAndPerAddress() async throws {
        let harness = try await ConsoleHarness.make(
            "session-throttle",
            console: "behind_proxy = true\ntrusted_proxies = [\"127.0.0.1\"]\nmax_failed_logins_per_account = 3\nmax_failed_logins_per_address = 5")
        try await harness.user("senco@north.example", .senco, schools: [north])
        try await harness.user("other@north.example", .senco, schools: [north])
        try await harness.run { browser in
            for _ in 0..<3 {
                #expect(try await browser.signIn("senco@north.example", password: "wrong wrong wrong", address: "198.51.100.1").status == .unauthorized)
            }
            // The right password from anywhere now waits: the account is throttled.
            let throttled = try await browser.signIn("senco@north.example", address: "198.51.100.2")
            #expect(throttled.status == .tooManyRequests)
            let wait = try #require(throttled.headers[.retryAfter].flatMap(Int.init))
            #expect(wait > 800 && wait <= 900)
            #expect(browser.cookie == nil)
            // Another account from the first address has two failures left on that address.
            for _ in 0..<2 {
                #expect(try await browser.signIn("other@north.example", password: "wrong wrong wrong", address: "198.51.100.1").status == .unauthorized)
            }
            #expect(try await browser.signIn("other@north.example", address: "198.51.100.1").status == .tooManyRequests)
            // From a fresh address the other account still signs in.
            #expect(try await browser.signIn("other@north.example", address: "198.51.100.3").location == "/")
        }
    }

    @Test func aForwardedAddressCountsOnlyFromATrustedProxy() async throws {
        let harness = try await ConsoleHarness.make("session-proxy", console: "max_failed_logins_per_address = 2")
        try await harness.user("senco@north.example", .senco, schools: [north])
        try await harness.run { browser in
            // Not behind a proxy: X-Forwarded-For is ignored, so changing it does not dodge the limit.
            for index in 0..<2 {
                _ = try await browser.signIn("nobody\(index)@north.example", password: "wrong wrong wrong", address: "203.0.113.\(index)")
            }
            #expect(try await browser.signIn("senco@north.example", address: "203.0.113.9").status == .tooManyRequests)
        }
        let addresses = try await harness.db { db in
            try await db.query("SELECT DISTINCT address FROM login_attempts").rows.map { try $0.decode("address", as: String.self) }
        }
        #expect(addresses == ["127.0.0.1"])
    }

    @Test func sessionsEndWhenIdleOrTooOldAndOnSignOut() async throws {
        let harness = try await ConsoleHarness.make("session-expiry", console: "idle_timeout_minutes = 30\nabsolute_timeout_hours = 10")
        try await harness.user("senco@north.example", .senco, schools: [north])
        try await harness.run { browser in
            try await browser.signIn("senco@north.example")
            #expect(try await browser.request(.get, "/api/v1/session").status == .ok)
            // 29 idle minutes: still alive, and the request renews it.
            try await harness.execute("UPDATE console_sessions SET last_seen_at = now() - interval '29 minutes'")
            #expect(try await browser.request(.get, "/api/v1/session").status == .ok)
            try await harness.execute("UPDATE console_sessions SET last_seen_at = now() - interval '31 minutes'")
            #expect(try await browser.request(.get, "/api/v1/session").status == .unauthorized)
            #expect(try await harness.db { try await $0.query("SELECT count(*)::int FROM console_sessions").scalar(as: Int.self) } == 0)

            try await browser.signIn("senco@north.example")
            try await harness.execute("UPDATE console_sessions SET created_at = now() - interval '10 hours 1 minute'")
            #expect(try await browser.request(.get, "/api/v1/session").status == .unauthorized, "busy, but past the absolute limit")

            try await browser.signIn("senco@north.example")
            let token = try #require(browser.cookie)
            let out = try await browser.request(.post, "/logout", form: [:])
            #expect(out.status == .seeOther && out.location == "/login")
            #expect(browser.cookie == nil)
            browser.setCookie(token)
            #expect(try await browser.request(.get, "/api/v1/session").status == .unauthorized, "the old cookie is dead")
        }
    }

    @Test func disablingOrResettingAnAccountEndsItsSessions() async throws {
        let harness = try await ConsoleHarness.make("session-disable")
        try await harness.user("senco@north.example", .senco, schools: [north])
        try await harness.run { browser in
            try await browser.signIn("senco@north.example")
            try await harness.db { try await Accounts.resetPassword($0, email: "senco@north.example", password: "a brand new passphrase", cost: 4) }
            #expect(try await browser.request(.get, "/api/v1/session").status == .unauthorized)
            #expect(try await browser.signIn("senco@north.example").status == .unauthorized, "the old password no longer works")
            #expect(try await browser.signIn("senco@north.example", password: "a brand new passphrase").location == "/")
            try await harness.db { try await Accounts.disable($0, email: "senco@north.example") }
            #expect(try await browser.request(.get, "/api/v1/session").status == .unauthorized)
            #expect(try await browser.signIn("senco@north.example", password: "a brand new passphrase").status == .unauthorized)
        }
    }

    /// Reads the enrolment page's key and computes codes as the phone would.
    static func key(from page: String) throws -> TOTP {
        let marker = "<code class=\"secret\">"
        let start = try #require(page.range(of: marker)).upperBound
        let base32 = page[start...].prefix { $0 != "<" }.replacingOccurrences(of: " ", with: "")
        let bytes = try #require(Base32.decode(base32))
        return TOTP(secret: try #require(String(bytes: bytes, encoding: .utf8)))
    }

    @Test func theLeadEnrolsASecondFactorAndNeedsItEachTime() async throws {
        let harness = try await ConsoleHarness.make("session-totp")
        try await harness.user("lead@trust.example", .sendLead, secondFactor: true)
        try await harness.run { browser in
            let first = try await browser.signIn("lead@trust.example")
            #expect(first.location == "/second-factor")
            #expect(try await browser.request(.get, "/api/v1/session").status == .unauthorized, "the password alone is not enough")
            let trust = try await browser.request(.get, "/trust")
            #expect(trust.status == .seeOther && trust.location == "/second-factor")
            let enrol = try await browser.request(.get, "/second-factor")
            #expect(enrol.status == .ok && enrol.body.contains("<svg"), "the key is shown with a QR code")
            let totp = try Self.key(from: enrol.body)
            let csrf = try #require(enrol.body.range(of: "name=\"csrf\" value=\"").map { enrol.body[$0.upperBound...].prefix { $0 != "\"" } })
            let halfToken = try #require(browser.cookie)
            let wrong = try await browser.request(.post, "/second-factor/enrol", form: ["code": "000000", "csrf": String(csrf)])
            #expect(wrong.status == .badRequest)
            let code = String(format: "%06d", totp.compute(date: Date()))
            let done = try await browser.request(.post, "/second-factor/enrol", form: ["code": code, "csrf": String(csrf)])
            #expect(done.status == .ok)
            let codes = done.body.components(separatedBy: "<li><code>").dropFirst().map { String($0.prefix { $0 != "<" }) }
            #expect(codes.count == 10)
            #expect(browser.cookie != halfToken, "a new session after the second factor")
            try await browser.learnCSRF()
            #expect(try await browser.request(.get, "/trust").status == .ok)

            // The next sign-in asks for a code; a replayed one is refused, a recovery code works once.
            browser.forget()
            #expect(try await browser.signIn("lead@trust.example").location == "/second-factor")
            let ask = try await browser.request(.get, "/second-factor")
            #expect(ask.body.contains("authenticator app, or a recovery code"))
            let askCSRF = try #require(ask.body.range(of: "name=\"csrf\" value=\"").map { String(ask.body[$0.upperBound...].prefix { $0 != "\"" }) })
            let replay = try await browser.request(.post, "/second-factor", form: ["code": code, "csrf": askCSRF])
            #expect(replay.status == .unauthorized, "a code is used once")
            let recovered = try await browser.request(.post, "/second-factor", form: ["code": codes[0], "csrf": askCSRF])
            #expect(recovered.status == .seeOther && recovered.location == "/")
            browser.forget()
            try await browser.signIn("lead@trust.example")
            let again = try await browser.request(.get, "/second-factor")
            let againCSRF = try #require(again.body.range(of: "name=\"csrf\" value=\"").map { String(again.body[$0.upperBound...].prefix { $0 != "\"" }) })
            #expect(try await browser.request(.post, "/second-factor", form: ["code": codes[0], "csrf": againCSRF]).status == .unauthorized)
        }
    }

    @Test func theAuditLogRecordsViewsAndChangesAndOnlyTheLeadReadsIt() async throws {
        let harness = try await ConsoleHarness.make("session-audit")
        try await harness.user("senco@north.example", .senco, schools: [north])
        try await harness.user("lead@trust.example", .sendLead)
        let alert = try await harness.alertID(school: north)
        try await harness.run { browser in
            try await browser.signIn("senco@north.example", address: nil)
            #expect(try await browser.request(.get, "/pupils/\(ConsoleHarness.northPupil)").status == .ok)
            #expect(try await browser.request(.get, "/api/v1/pupils/\(ConsoleHarness.northPupil)").status == .ok)
            #expect(try await browser.request(.post, "/api/v1/alerts/\(alert)/acknowledge", json: .object(["note": .string("speaking to parents")])).status == .ok)
            #expect(try await browser.request(.get, "/audit").status == .forbidden)
            browser.forget()
            try await browser.signIn("lead@trust.example")
            let log = try await browser.request(.get, "/audit")
            #expect(log.status == .ok)
            #expect(log.body.contains("alert.acknowledged") && log.body.contains("pupil.view") && log.body.contains("speaking to parents"))
        }
        let entries = try await harness.db { db in
            try await db.query("SELECT email, address, action, school_urn, subject FROM audit_log ORDER BY id").rows.map {
                [try $0.decode("email", as: String.self), try $0.decode("address", as: String?.self) ?? "", try $0.decode("action", as: String.self),
                 try $0.decode("school_urn", as: String?.self) ?? "", try $0.decode("subject", as: String?.self) ?? ""]
            }
        }
        let senco = "senco@north.example", lead = "lead@trust.example", upn = ConsoleHarness.northPupil
        #expect(entries == [
            [senco, "127.0.0.1", "signed_in", "", ""],
            [senco, "127.0.0.1", "pupil.view", north, upn],
            [senco, "127.0.0.1", "pupil.view", north, upn],
            [senco, "127.0.0.1", "alert.acknowledged", north, String(alert)],
            [lead, "127.0.0.1", "signed_in", "", ""],
        ])
    }
}

/// RFC 4648 Base32, for reading the key the way an authenticator app does.
enum Base32 {
    static func decode(_ text: String) -> [UInt8]? {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var bits = 0, value = 0
        var bytes: [UInt8] = []
        for character in text where character != "=" {
            guard let index = alphabet.firstIndex(of: character) else { return nil }
            value = value << 5 | index
            bits += 5
            if bits >= 8 {
                bytes.append(UInt8((value >> (bits - 8)) & 0xFF))
                bits -= 8
            }
        }
        return bytes
    }
}

extension ConsoleSessionTests {
    @Test func aTrustThatRequiresItAsksSENCOsForASecondFactorToo() async throws {
        let harness = try await ConsoleHarness.make("session-senco-2fa", console: "require_second_factor = true")
        try await harness.user("senco@north.example", .senco, schools: [north])
        try await harness.run { browser in
            let page = try await browser.signIn("senco@north.example")
            #expect(page.location == "/second-factor")
            #expect(try await browser.request(.get, "/api/v1/session").status == .unauthorized)
        }
    }
}

/// Keeps what a logger was told, to check what the console writes to the daemon's log.
final class CapturedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    var text: String { lock.withLock { lines.joined(separator: "\n") } }

    func handler(label: String) -> any LogHandler { Handler(log: self) }

    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let fields = (event.metadata ?? [:]).map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
            log.lock.withLock { log.lines.append("\(event.level) \(event.message) \(fields)") }
        }
    }
}

extension ConsoleSessionTests {
    @Test func aLostDatabaseIsA503AndTheLogNamesNoPupil() async throws {
        let harness = try await ConsoleHarness.make("session-db-lost")
        try await harness.user("senco@north.example", .senco, schools: [north])
        let token = try await harness.db { try await Accounts.issueToken($0, email: "senco@north.example") }
        let captured = CapturedLog()
        let broken = Console(
            configuration: harness.console.configuration,
            pool: ConnectionPool(database: .external(harness.url + "_gone"), capacity: 1, applicationName: "console-test"),
            pages: harness.console.pages, pipeline: harness.console.pipeline,
            logger: Logger(label: "console", factory: captured.handler))
        try await ConsoleHarness.run(broken) { browser in
            let page = try await browser.request(.get, "/api/v1/pupils/\(ConsoleHarness.northPupil)", headers: [.authorization: "Bearer \(token)"])
            #expect(page.status == .serviceUnavailable)
            #expect(page.json?.field("error") == .string("something went wrong on the server; the trust's IT staff can see it in the daemon's log"))
        }
        #expect(captured.text.contains("console request failed"), "\(captured.text)")
        #expect(!captured.text.contains(ConsoleHarness.northPupil), "\(captured.text)")
    }
}

extension ConsoleSessionTests {
    @Test func withItsOwnCertificateTheConsoleSpeaksHTTPSAndItsCookieIsSecure() async throws {
        let folder = try TestProcess.temporaryDirectory("console-tls")
        let made = try await TestProcess.run(
            "/usr/bin/openssl",
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", folder + "/key.pem", "-out", folder + "/cert.pem"])
        #expect(made.exitCode == 0, "\(made.standardError)")
        let harness = try await ConsoleHarness.make(
            "session-tls", console: "tls_certificate = \"\(folder)/cert.pem\"\ntls_key = \"\(folder)/key.pem\"")
        try await harness.user("senco@north.example", .senco, schools: [north])
        try await harness.serve { port in
            let base = "https://127.0.0.1:\(port)"
            let page = try await TestProcess.run("/usr/bin/curl", ["-s", "--cacert", folder + "/cert.pem", "-o", "/dev/null", "-w", "%{http_code}", base + "/login"])
            #expect(page.standardOutput == "200", "\(page.standardError)")
            let signIn = try await TestProcess.run(
                "/usr/bin/curl",
                ["-s", "--cacert", folder + "/cert.pem", "-D", "-", "-o", "/dev/null", "-d",
                 "email=senco%40north.example&password=correct+horse+battery+staple", base + "/login"])
            let headers = signIn.standardOutput.lowercased()
            #expect(headers.contains("set-cookie: provision_session=") && headers.contains("; secure"), "\(signIn.standardOutput)")
            #expect(headers.contains("strict-transport-security: max-age=31536000"))
            let plain = try await TestProcess.run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/login"])
            #expect(plain.standardOutput == "000", "plain HTTP on the TLS port gets no page")
        }
    }
}
