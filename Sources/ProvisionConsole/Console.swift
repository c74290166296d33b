import Foundation
import Logging
import Postgres
import ProvisionAccounts
import ProvisionConfig
import ProvisionImport
import ProvisionStore

/// What every console route shares: the configuration in force, the database pool, the
/// templates, the sign-in rules and the import pipeline edits go through.
struct Console: Sendable {
    /// The configuration in force (a reload replaces it; `[console]` itself needs a restart).
    let configuration: @Sendable () -> Configuration
    let pool: ConnectionPool
    let pages: Pages
    let pipeline: ImportPipeline
    let logger: Logger

    var settings: Configuration.Console { configuration().console }

    var throttle: LoginThrottle {
        let console = settings
        return LoginThrottle(
            perAccount: console.maxFailedLoginsPerAccount, perAddress: console.maxFailedLoginsPerAddress,
            windowSeconds: console.loginWindowMinutes * 60)
    }

    var sessionLimits: Sessions.Limits {
        Sessions.Limits(idle: .seconds(settings.idleTimeoutMinutes * 60), absolute: .seconds(settings.absoluteTimeoutHours * 3600))
    }

    /// Runs `body` on a pooled connection.
    func db<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await pool.withConnection(body)
    }

    /// The configured schools' URNs, in file order.
    var schoolURNs: [String] { configuration().schools.map(\.urn) }

    /// The configured name of school `urn`.
    func schoolName(_ urn: String) -> String { configuration().school(urn: urn)?.name ?? urn }

    /// The audit entry for a change, to run inside the change's own transaction.
    func auditing(
        _ visitor: Visitor, _ context: ConsoleContext, _ action: String, school: String? = nil, subject: String? = nil,
        detail: [String: String] = [:]
    ) -> @Sendable (isolated PostgresConnection) throws -> Void {
        auditing(visitor.user, context, action, school: school, subject: subject, detail: detail)
    }

    /// The audit entry for what `user` does, to run inside the change's own transaction.
    func auditing(
        _ user: User, _ context: ConsoleContext, _ action: String, school: String? = nil, subject: String? = nil,
        detail: [String: String] = [:]
    ) -> @Sendable (isolated PostgresConnection) throws -> Void {
        let address = context.address
        return { db in
            try AuditLog.record(
                in: db, user: user, address: address, action: action, school: school, subject: subject,
                detail: detail.mapValues { .string($0) })
        }
    }

    /// Records an audit entry for `visitor` (for views; changes use ``auditing``).
    func audit(
        _ visitor: Visitor, _ context: ConsoleContext, _ action: String, school: String? = nil, subject: String? = nil,
        detail: [String: String] = [:]
    ) async throws {
        try await db { db in
            try await AuditLog.record(
                db, user: visitor.user, address: context.address, action: action, school: school, subject: subject,
                detail: detail.mapValues { .string($0) })
        }
    }
}
