import Foundation
import ProvisionConfig
import Testing

/// `[console]`: the defaults, and the refusals that keep pupil data off the network in
/// clear text.
@Suite struct ConsoleSettingsTests {
    let base = ConfigurationTests.valid
    /// The configuration suite's reader and problem finder.
    let configuration = ConfigurationTests()

    func parse(_ text: String) throws(ConfigError) -> Configuration { try configuration.parse(text) }

    func problem(_ text: String) -> ConfigError? { configuration.problem(text) }

    @Test func defaultsToLoopbackPlainHTTPWithThirtyMinuteSessions() throws {
        let console = try parse(base).console
        #expect(console.listen?.host == "127.0.0.1" && console.listen?.port == 8080)
        #expect(!console.servesTLS && !console.browserUsesTLS && !console.requireSecondFactor)
        #expect(console.idleTimeoutMinutes == 30 && console.absoluteTimeoutHours == 10)
        #expect(console.maxFailedLoginsPerAccount == 5 && console.maxFailedLoginsPerAddress == 20 && console.loginWindowMinutes == 15)
        #expect(try parse(base + "\n[console]\nlisten = \"\"\n").console.listen == nil)
    }

    @Test func aNetworkAddressNeedsTLSOrATrustedProxy() throws {
        let open = problem(base + "\n[console]\nlisten = \"0.0.0.0:8443\"\n")
        #expect(open?.key == "console.listen")
        #expect(open?.message.contains("clear text") == true)
        let proxied = try parse(base + "\n[console]\nlisten = \"10.0.0.5:8080\"\nbehind_proxy = true\ntrusted_proxies = [\"10.0.0.1\"]\n").console
        #expect(proxied.listen?.host == "10.0.0.5" && proxied.browserUsesTLS && !proxied.servesTLS)
        #expect(problem(base + "\n[console]\nbehind_proxy = true\n")?.key == "console.trusted_proxies")
        #expect(problem(base + "\n[console]\nbehind_proxy = true\ntrusted_proxies = [\"proxy.internal\"]\n")?.message.contains("IP address") == true)
    }

    @Test func certificateAndKeyGoTogetherAndMustBeReadable() throws {
        let alone = problem(base + "\n[console]\ntls_certificate = \"/etc/ssl/certs/ca-certificates.crt\"\n")
        #expect(alone?.key == "console.tls_certificate" && alone?.message.contains("go together") == true)
        let missing = problem(base + "\n[console]\ntls_certificate = \"/nonexistent/cert.pem\"\ntls_key = \"/nonexistent/key.pem\"\n")
        #expect(missing?.key == "console.tls_certificate" && missing?.message.contains("cannot read") == true)
    }

    @Test func limitsAreRangeChecked() {
        #expect(problem(base + "\n[console]\nidle_timeout_minutes = 0\n")?.key == "console.idle_timeout_minutes")
        #expect(problem(base + "\n[console]\nlisten = \"127.0.0.1:99999\"\n")?.key == "console.listen")
        #expect(problem(base + "\n[console]\nrequire_second_factr = true\n")?.message.contains("require_second_factor") == true)
    }

    /// Where a service listens, as the log and `status` show it: an IPv6 host in brackets.
    @Test func aListeningAddressIsShownAsAURL() {
        #expect(HostPort.url(scheme: "http", host: "127.0.0.1", port: 9464) == "http://127.0.0.1:9464")
        #expect(HostPort.url(scheme: "https", host: "::1", port: 8443) == "https://[::1]:8443")
        #expect(HostPort.url(scheme: "http", host: "console.trust.example", port: 80) == "http://console.trust.example:80")
    }
}
