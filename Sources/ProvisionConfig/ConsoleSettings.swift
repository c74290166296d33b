import Foundation
import ProvisionTOML

extension Configuration {
    /// `[console]`: where the SENCOs' web console listens and how it guards itself
    /// (docs/console.md).
    public struct Console: Sendable {
        /// Host and port; nil turns the console off. Default 127.0.0.1:8080.
        public var listen: (host: String, port: Int)? = ("127.0.0.1", 8080)
        /// PEM certificate chain and key: the console then speaks HTTPS itself.
        public var tlsCertificate: String?
        /// The certificate's private key (PEM).
        public var tlsKey: String?
        /// True when a reverse proxy in front terminates TLS.
        public var behindProxy = false
        /// The proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed.
        public var trustedProxies: [String] = []
        /// Whether SENCO accounts need a second factor too (leads and IT admins always do
        /// unless made with `--no-second-factor`).
        public var requireSecondFactor = false
        /// A session ends after this long without a request.
        public var idleTimeoutMinutes = 30
        /// A session ends this long after sign-in, however busy.
        public var absoluteTimeoutHours = 10
        /// Failed sign-ins allowed per account, and per address, within `loginWindowMinutes`.
        public var maxFailedLoginsPerAccount = 5
        /// Failed sign-ins allowed per client address within the window.
        public var maxFailedLoginsPerAddress = 20
        /// The window failed sign-ins are counted in.
        public var loginWindowMinutes = 15

        /// The shipped defaults.
        public init() {}

        /// Whether the console serves HTTPS itself.
        public var servesTLS: Bool { tlsCertificate != nil }
        /// Whether the browser reaches the console over HTTPS (itself or through the proxy),
        /// so cookies are marked `Secure`.
        public var browserUsesTLS: Bool { servesTLS || behindProxy }
    }

    /// Where a running daemon writes the console's address once it listens, for
    /// `provisionctl status`.
    public var consoleAddressFile: String { stateDirectory + "/console-address" }

    static func parseConsole(_ section: TOMLSection, resolve: (String) -> String) throws(ConfigError) -> Console {
        var console = Console()
        if let listen = try section.string("listen") {
            if listen.isEmpty {
                console.listen = nil
            } else if let endpoint = HostPort.parse(listen) {
                console.listen = endpoint
            } else {
                throw section.error("listen", "must be an address and port such as '127.0.0.1:8080' or '0.0.0.0:8443' (or \"\" for none), got '\(listen)'")
            }
        }
        console.tlsCertificate = try section.string("tls_certificate").map(resolve)
        console.tlsKey = try section.string("tls_key").map(resolve)
        guard (console.tlsCertificate == nil) == (console.tlsKey == nil) else {
            throw section.error(console.tlsKey == nil ? "tls_certificate" : "tls_key", "tls_certificate and tls_key go together")
        }
        for (key, path) in [("tls_certificate", console.tlsCertificate), ("tls_key", console.tlsKey)] {
            if let path, !FileManager.default.isReadableFile(atPath: path) {
                throw section.error(key, "cannot read '\(path)'")
            }
        }
        console.behindProxy = try section.bool("behind_proxy") ?? false
        console.trustedProxies = try section.stringArray("trusted_proxies") ?? []
        for proxy in console.trustedProxies where !HostPort.isIPAddress(proxy) {
            throw section.error("trusted_proxies", "'\(proxy)' is not an IP address (name each proxy by its address)")
        }
        if console.behindProxy && console.trustedProxies.isEmpty {
            throw section.error("trusted_proxies", "behind_proxy = true needs the proxy's address here, such as [\"127.0.0.1\"]")
        }
        if let listen = console.listen, !LoopbackEndpoint.isLoopback(listen.host), !console.servesTLS, !console.behindProxy {
            throw section.error(
                "listen",
                "'\(listen.host)' is not a loopback address: pupil data must not cross a network in clear text. "
                    + "Set tls_certificate and tls_key, or put a TLS proxy in front (behind_proxy = true, trusted_proxies)")
        }
        console.requireSecondFactor = try section.bool("require_second_factor") ?? false
        console.idleTimeoutMinutes = try section.int("idle_timeout_minutes", range: 1...1440) ?? console.idleTimeoutMinutes
        console.absoluteTimeoutHours = try section.int("absolute_timeout_hours", range: 1...168) ?? console.absoluteTimeoutHours
        console.maxFailedLoginsPerAccount =
            try section.int("max_failed_logins_per_account", range: 1...1000) ?? console.maxFailedLoginsPerAccount
        console.maxFailedLoginsPerAddress =
            try section.int("max_failed_logins_per_address", range: 1...10_000) ?? console.maxFailedLoginsPerAddress
        console.loginWindowMinutes = try section.int("login_window_minutes", range: 1...1440) ?? console.loginWindowMinutes
        try section.finish()
        return console
    }
}

/// `host:port` with any host: a name, an IPv4 address or a bracketed IPv6 address.
public enum HostPort {
    /// `scheme://host:port`, an IPv6 host in brackets: how the daemon's log and `status` show
    /// where a service listens, for an administrator to paste.
    public static func url(scheme: String, host: String, port: Int) -> String {
        "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }

    static func parse(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, !host.contains(where: { $0.isWhitespace || $0 == "/" }) else { return nil }
        return (host, port)
    }

    static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }
}
