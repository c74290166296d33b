import Foundation
import Hummingbird
import Logging
import Metrics
import Postgres
import Prometheus
import ProvisionJobs
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
                logger.notice(
                    "operations endpoint listening",
                    metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")", "paths": "/healthz /metrics"])
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
            let row = try await pool.withConnection { db in
                try await db.query(
                    """
                    SELECT (SELECT count(*) FROM jobs WHERE state = 'running') AS running,
                           (SELECT count(*) FROM jobs WHERE state = 'available' AND run_at <= now()) AS due,
                           (SELECT count(*) FROM mail_outbox WHERE state = 'pending') AS outbox
                    """
                ).singleRow()
            }
            let running = try row?.decode("running", as: Int.self) ?? 0
            let due = try row?.decode("due", as: Int.self) ?? 0
            let outbox = try row?.decode("outbox", as: Int.self) ?? 0
            return Health(
                ok: true,
                json: #"{"status":"ok","database":"ok","jobs_running":\#(running),"jobs_due":\#(due),"outbox_pending":\#(outbox)}"#)
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
            let sample = try await pool.withConnection { db in
                try await db.query(
                    """
                    SELECT (SELECT count(*) FROM mail_outbox WHERE state = 'pending')::float8 AS outbox_pending,
                           (SELECT count(*) FROM mail_outbox WHERE state = 'failed')::float8 AS outbox_failed,
                           (SELECT count(*) FROM jobs WHERE state = 'available')::float8 AS jobs_available,
                           (SELECT count(*) FROM jobs WHERE state = 'running')::float8 AS jobs_running,
                           (SELECT count(*) FROM jobs WHERE state = 'failed')::float8 AS jobs_failed,
                           coalesce((SELECT extract(epoch FROM now() - min(run_at)) FROM jobs
                                      WHERE state = 'available' AND run_at <= now()), 0)::float8 AS job_lag
                    """
                ).singleRow()
            }
            guard let row = sample else { return }
            Gauge(label: "provision_outbox_pending").record(try row.decode("outbox_pending", as: Double.self))
            Gauge(label: "provision_outbox_failed").record(try row.decode("outbox_failed", as: Double.self))
            Gauge(label: "provision_jobs_available").record(try row.decode("jobs_available", as: Double.self))
            Gauge(label: "provision_jobs_running").record(try row.decode("jobs_running", as: Double.self))
            Gauge(label: "provision_jobs_failed").record(try row.decode("jobs_failed", as: Double.self))
            Gauge(label: "provision_job_lag_seconds").record(try row.decode("job_lag", as: Double.self))
            Gauge(label: "provision_database_up").record(1)
        } catch {
            Gauge(label: "provision_database_up").record(0)
        }
    }
}
