import Foundation
import Hummingbird
import Logging
import Metrics
import Postgres
import Prometheus
import ProvisionAlerts
import ProvisionConfig
import ProvisionJobs
import ProvisionStore
import ServiceLifecycle

/// `GET /healthz` and `GET /metrics` (Prometheus text format) on a loopback address, for
/// the trust's monitoring (DESIGN §2). Nothing here names a pupil.
enum OperationsServer {
    /// The HTTP service, or nil when `daemon.http_listen` is empty. Its handlers take
    /// their connections from `pool`.
    static func make(supervisor: Supervisor, pool: ConnectionPool, registry: PrometheusCollectorRegistry) -> (any Service)? {
        guard let listen = supervisor.configuration.daemon.httpListen else { return nil }
        let router = Router()
        router.get("healthz") { _, _ -> Response in
            let health = await Health.check(pool)
            return Response(
                status: health.ok ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: health.json + "\n")))
        }
        router.get("metrics") { _, _ -> Response in
            await Gauges.sample(pool)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        var quiet = supervisor.logger
        quiet.logLevel = .warning
        let logger = supervisor.logger
        return Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(listen.host, port: listen.port), serverName: nil),
            onServerRunning: { channel in
                // As a URL, like the console's: NIO's own form ([IPv4]127.0.0.1/127.0.0.1:PORT) is
                // not what an administrator pastes into curl.
                let address = HostPort.url(scheme: "http", host: listen.host, port: channel.localAddress?.port ?? listen.port)
                logger.notice("operations endpoint listening", metadata: ["address": "\(address)", "paths": "/healthz /metrics"])
            },
            logger: quiet)
    }
}

/// What `/healthz` reports: the database reachable, and the queue's state.
struct Health {
    var ok: Bool
    var json: String

    static func check(_ pool: ConnectionPool) async -> Health {
        do {
            let (jobs, outbox) = try await pool.withConnection { db in
                (try await JobQueue.counts(db), try await MailOutboxCounts.read(db))
            }
            return Health(
                ok: true,
                json: #"{"status":"ok","database":"ok","jobs_running":\#(jobs.running),"jobs_due":\#(jobs.due),"outbox_pending":\#(outbox.pending)}"#)
        } catch {
            let reason = "\(error)".replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "\n", with: " ")
            return Health(ok: false, json: #"{"status":"unavailable","database":"\#(reason)"}"#)
        }
    }
}

/// Gauges read from the database when Prometheus scrapes: they describe shared state that
/// any daemon may have changed, so each scrape asks the source of truth.
enum Gauges {
    static func sample(_ pool: ConnectionPool) async {
        do {
            let (jobs, outbox) = try await pool.withConnection { db in
                (try await JobQueue.counts(db), try await MailOutboxCounts.read(db))
            }
            Gauge(label: "provision_outbox_pending").record(outbox.pending)
            Gauge(label: "provision_outbox_failed").record(outbox.failed)
            Gauge(label: "provision_jobs_available").record(jobs.available)
            Gauge(label: "provision_jobs_running").record(jobs.running)
            Gauge(label: "provision_jobs_failed").record(jobs.failed)
            Gauge(label: "provision_job_lag_seconds").record(jobs.lagSeconds)
            Gauge(label: "provision_database_up").record(1)
        } catch {
            Gauge(label: "provision_database_up").record(0)
        }
    }
}
