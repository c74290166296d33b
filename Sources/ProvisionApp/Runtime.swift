import ArgumentParser
import Foundation
import Postgres
import ProvisionConfig
import ProvisionStore

/// The `--config` option every command takes.
public struct ConfigOption: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The configuration file (TOML).",
            discussion: "Default: $PROVISION_CONFIG, else /etc/provision/provision.toml.",
            valueName: "file"))
    /// The configuration file (`--config`); nil for the embedded defaults.
    public var config: String?

    /// Options as ArgumentParser fills them.
    public init() {}

    /// The configuration file to read.
    public var path: String {
        config ?? ProcessInfo.processInfo.environment["PROVISION_CONFIG"] ?? "/etc/provision/provision.toml"
    }

    /// Loads and checks the configuration.
    public func load() throws -> Configuration {
        try Configuration.load(from: path)
    }
}

/// Opens the configured database for the length of `body`, then closes it, stopping the
/// embedded cluster if this process started it, whether `body` succeeds or throws.
public func withDatabase<T>(
    _ config: Configuration, _ body: (ProvisionDatabase) async throws -> T
) async throws -> T {
    let database = try await ProvisionDatabase.open(config)
    do {
        let value = try await body(database)
        await database.shutdown()
        return value
    } catch {
        await database.shutdown()
        throw error
    }
}

/// Opens the database and brings its schema up to date (what the daemon does at start).
public func withMigratedDatabase<T>(
    _ config: Configuration, _ body: (ProvisionDatabase) async throws -> T
) async throws -> T {
    try await withDatabase(config) { database in
        _ = try await database.withConnection(applicationName: "provision-migrate") { db in try await Migrator().migrate(db) }
        return try await body(database)
    }
}

/// Opens the database, hands `body` one connection, and closes both afterwards. With
/// `migrated`, the schema is brought up to date on that connection first (a connection of
/// its own cost every command another authentication, about 17 ms).
public func withConnection<T>(
    _ config: Configuration, applicationName: String, migrated: Bool = false,
    _ body: (ProvisionDatabase, PostgresConnection) async throws -> T
) async throws -> T {
    try await withDatabase(config) { database in
        try await database.withConnection(applicationName: applicationName) { db in
            if migrated { _ = try await Migrator().migrate(db) }
            return try await body(database, db)
        }
    }
}
