import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOSSL
import ProvisionConfig
import ProvisionImport
import ProvisionStore
import ServiceLifecycle

/// The SENCOs' console (issue 17, docs/console.md): pages and the JSON API on `[console]
/// listen`, served by Hummingbird as one of `provisiond`'s services, so it starts, stops and
/// reloads with the daemon.
public enum ConsoleServer {
    /// The console's service, or nil when `[console] listen` is empty.
    ///
    /// - Parameters:
    ///   - configuration: the configuration in force (read on every request, so a reload's
    ///     schools and names apply; `[console]` itself is read once, at start).
    ///   - pool: the database connections its requests share.
    ///   - onListening: told the address once the socket is bound (port 0 picks one).
    /// - Throws: ``ConfigError`` when the templates or the TLS certificate cannot be read.
    public static func make(
        configuration: @escaping @Sendable () -> Configuration, pool: ConnectionPool, pipeline: ImportPipeline, logger: Logger,
        templates: String? = nil, onListening: @escaping @Sendable (String) async -> Void = { _ in }
    ) async throws -> (any Service)? {
        let settings = configuration().console
        guard let listen = settings.listen else { return nil }
        let console = Console(
            configuration: configuration, pool: pool, pages: try await Pages.load(folder: templates), pipeline: pipeline, logger: logger)
        return try application(console, host: listen.host, port: listen.port, onListening: onListening)
    }

    static func application(
        _ console: Console, host: String, port: Int, onListening: @escaping @Sendable (String) async -> Void = { _ in }
    ) throws -> Application<RouterResponder<ConsoleContext>> {
        let settings = console.settings
        let logger = console.logger
        var quiet = logger
        quiet.logLevel = .warning
        let scheme = settings.servesTLS ? "https" : "http"
        return Application(
            router: router(console),
            server: try server(settings),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in
                let address = HostPort.url(scheme: scheme, host: host, port: channel.localAddress?.port ?? port) + "/"
                logger.notice("console listening", metadata: ["address": "\(address)"])
                await onListening(address)
            },
            logger: quiet)
    }

    static func server(_ settings: Configuration.Console) throws -> HTTPServerBuilder {
        guard let certificate = settings.tlsCertificate, let key = settings.tlsKey else { return .http1() }
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
            var tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            tls.minimumTLSVersion = .tlsv12
            return try .tls(.http1(), tlsConfiguration: tls)
        } catch {
            throw ConfigError(file: certificate, key: "console.tls_certificate", message: "the certificate or key cannot be used: \(error)")
        }
    }

    static func router(_ console: Console) -> Router<ConsoleContext> {
        let router = Router(context: ConsoleContext.self)
        router.add(middleware: SignInMiddleware(console: console))
        router.get("assets/console.css") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=3600"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: console.pages.stylesheet)))
        }
        SignInRoutes(console: console).add(to: router)
        SchoolPages(console: console).add(to: router)
        TrustPages(console: console).add(to: router)
        PlanPages(console: console).add(to: router)
        PlanAPI(console: console).add(to: router)
        APIRoutes(console: console).add(to: router)
        return router
    }
}
