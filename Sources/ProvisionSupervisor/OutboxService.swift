import Foundation
import Logging
import Metrics
import Postgres
import ProvisionAlerts
import ServiceLifecycle

/// Delivers the mail outbox (DESIGN §7): woken by the evaluation's NOTIFY, and at least
/// every 30 seconds for retries and for the digests that fall due (each school's at
/// `mail.digest_time`, the lead's after the trust-wide evaluation; each claimed once a day,
/// so several daemons send it once). Any number of daemons may run it; rows are claimed
/// with SKIP LOCKED. It stops after the workers, with one last delivery of what they queued.
struct OutboxService: Service {
    let supervisor: Supervisor

    func run() async throws {
        await supervisor.reconnecting("provisiond-mail", service: "mailer", pauseAfterFailure: .seconds(30)) { db in
            try await db.listen(JobRunner.outboxChannel)
            while !Task.isCancelled {
                try await deliver(db)
                if Task.isShuttingDownGracefully { return }
                _ = try await nextNotification(db, timeout: .seconds(30))
            }
        }
    }

    private func deliver(_ db: PostgresConnection) async throws {
        let config = supervisor.configuration
        // A digest that cannot be written (a broken template) must not hold up the mail
        // already queued: it is logged, and delivery goes on.
        do {
            let templates = try await DigestTemplates.load(config)
            let digests = try await db.transaction { db in try await Digests.queueDue(db, config: config, templates: templates) }
            if digests > 0 { supervisor.logger.info("digests queued", metadata: ["messages": "\(digests)"]) }
        } catch let error as PostgresError where error.isConnectionProblem {
            throw error
        } catch {
            supervisor.logger.error("digests not queued", metadata: ["error": "\(error)"])
        }
        let result = try await Mailer(transport: Mailer.transport(for: config)).flush(db)
        Counter(label: "provision_mail_sent_total").increment(by: result.sent)
        Counter(label: "provision_mail_failed_total").increment(by: result.failed)
        if result.sent + result.deferred + result.failed > 0 {
            supervisor.logger.info(
                "mail delivered",
                metadata: [
                    "sent": "\(result.sent)", "waiting": "\(result.deferred)", "failed": "\(result.failed)",
                    "transport": "\(config.mail.transport.rawValue)",
                ])
        }
    }
}
