import Postgres
import ProvisionModel

/// One numbered, forward-only schema change.
public struct Migration: Sendable {
    /// Its number; migrations apply in this order.
    public let version: Int
    /// A short name, recorded with it.
    public let name: String
    /// The statements it runs, in one transaction.
    public let sql: String

    /// A migration numbered `version`.
    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// SHA-256 of the SQL: an applied migration whose text later changes is refused.
    public var checksum: String { SHA256.hex(sql) }

    /// Every migration the product ships, in order.
    public static let all: [Migration] = [
        schema, evaluation, daemon, growthModel, alertAnswers, digestPolicy, alertIndexes, console, plans, importedPlans,
        incrementalEvaluation, unusedIndex, setBasedResultReferences, setBasedPupilSchool, setBasedFlagReferences,
        pupilsSchoolDataVersion, setBasedFlagRun, pupilsBySchool, schoolsOfChangedRows, pupilsOfChangedRows,
        resultsCheckedOnce, duplicateAlertsBySubject, resultsByNaturalKey, resultPupilsLookedUp, consoleEditsIndexed,
        needsCheckedPerStatement, resultPupilsReadByRange, pupilIdentifiersNotSampled, consecutivePupilsCounted,
        storedResultsVouched, setBasedOutcomeReferences, resultsKeyedByTest,
    ]
}

/// Why migrating stopped.
public struct MigrationError: Error, Sendable, CustomStringConvertible {
    /// What is wrong and what to do.
    public let message: String
    public var description: String { message }
}

/// The state of one migration in a database.
public struct MigrationStatus: Sendable, Equatable {
    /// The migration's number.
    public let version: Int
    /// The migration's name.
    public let name: String
    /// When it was applied, as the server printed it; nil while pending.
    public let appliedAt: String?
}

/// Applies migrations: each once, in its own transaction, under an advisory lock so that
/// several processes starting at once apply each migration exactly once.
public struct Migrator: Sendable {
    /// Arbitrary but fixed: the advisory lock every migrating process takes.
    static let lockKey: Int64 = 0x5345_4E44_5052_4F56  // "SENDPROV"

    /// The migrations it applies, in order.
    public let migrations: [Migration]

    /// A migrator for `migrations` (every shipped one by default).
    public init(migrations: [Migration] = Migration.all) {
        self.migrations = migrations
    }

    /// Applies what is pending.
    ///
    /// - Returns: the migrations applied by this call (empty when nothing was pending).
    /// - Throws: ``MigrationError`` when an applied migration was edited, or the database
    ///   has migrations this program does not know (it is older than the database).
    @discardableResult
    public func migrate(_ db: PostgresConnection) async throws -> [Migration] {
        try await db.query("SELECT pg_advisory_lock($1)", Self.lockKey)
        do {
            let applied = try await prepareAndCheck(db)
            var done: [Migration] = []
            for migration in migrations where applied[migration.version] == nil {
                try await db.transaction { db in
                    do {
                        try db.runScript(migration.sql)
                    } catch let error as PostgresError where error.sqlState == "42501" {
                        throw MigrationError(
                            message: "Migration \(migration.version) (\(migration.name)) needs the role that owns the schema "
                                + "(\(error.message)). Run `provisionctl db migrate` as that role (docs/operations.md, Upgrading).")
                    }
                    try db.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                        migration.version, migration.name, migration.checksum)
                }
                done.append(migration)
            }
            try await db.query("SELECT pg_advisory_unlock($1)", Self.lockKey)
            return done
        } catch {
            _ = try? await db.query("SELECT pg_advisory_unlock($1)", Self.lockKey)
            throw error
        }
    }

    /// Every known migration with when it was applied, without changing anything.
    public func status(_ db: PostgresConnection) async throws -> [MigrationStatus] {
        let exists = try await db.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS present")
            .scalar(as: Bool.self)
        var appliedAt: [Int: String] = [:]
        if exists {
            for row in try await db.query("SELECT version, applied_at::text AS applied_at FROM schema_migrations").rows {
                appliedAt[try row.decode("version")] = try row.decode("applied_at", as: String.self)
            }
        }
        return migrations.map { MigrationStatus(version: $0.version, name: $0.name, appliedAt: appliedAt[$0.version]) }
    }

    /// Creates the bookkeeping table and checks applied migrations against the known ones.
    private func prepareAndCheck(_ db: PostgresConnection) async throws -> [Int: String] {
        // Only created when missing: a role without CREATE (the daemon's least-privilege
        // role, deploy/roles.sql) must be able to check an up-to-date schema.
        let exists = try await db.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS present").scalar(as: Bool.self)
        if !exists {
            try await db.execute(
                """
                CREATE TABLE schema_migrations (
                    version     integer PRIMARY KEY,
                    name        text NOT NULL,
                    checksum    text NOT NULL,
                    applied_at  timestamptz NOT NULL DEFAULT now()
                )
                """)
        }
        var applied: [Int: String] = [:]
        for row in try await db.query("SELECT version, checksum FROM schema_migrations ORDER BY version").rows {
            applied[try row.decode("version")] = try row.decode("checksum", as: String.self)
        }
        let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        for (version, checksum) in applied.sorted(by: { $0.key < $1.key }) {
            guard let migration = known[version] else {
                throw MigrationError(
                    message: "The database has migration \(version), which this program does not know: "
                        + "it was migrated by a newer version of SEND Provision. Upgrade this program.")
            }
            guard migration.checksum == checksum else {
                throw MigrationError(
                    message: "Migration \(version) (\(migration.name)) was edited after it was applied "
                        + "(checksum \(checksum.prefix(12))… in the database, \(migration.checksum.prefix(12))… now). "
                        + "Applied migrations must never change: restore its original text and add a new migration.")
            }
        }
        return applied
    }
}
