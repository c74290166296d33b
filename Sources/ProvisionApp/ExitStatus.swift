import ArgumentParser
import Foundation
import Postgres
import ProvisionConfig
import ProvisionStore

/// The exit statuses of DESIGN §9 (BSD sysexits).
public enum ExitStatus {
    /// Everything worked.
    public static let success: Int32 = 0
    /// The work failed (an import run failed, say).
    public static let failed: Int32 = 1
    /// EX_USAGE: the command line was wrong.
    public static let usage: Int32 = 64
    /// The input data was rejected.
    public static let badInput: Int32 = 65
    /// A service (database, MTA) is unavailable.
    public static let unavailable: Int32 = 69
    /// EX_CONFIG: the configuration file is missing or wrong.
    public static let badConfiguration: Int32 = 78
}

/// An error that knows its exit status and already explains itself.
public protocol ReportableError: Error, CustomStringConvertible {
    var exitStatus: Int32 { get }
}

/// Runs a command body, printing any error in a form a person can act on and turning it
/// into the matching exit status.
public func reportingErrors(_ body: () async throws -> Void) async throws {
    // A child that exits without reading its input (a sendmail that fails at once) must
    // give us EPIPE on write, not a SIGPIPE that kills the daemon.
    signal(SIGPIPE, SIG_IGN)
    do {
        try await body()
    } catch let exit as ExitCode {
        throw exit
    } catch let error as CleanExit {
        throw error
    } catch {
        let (status, text) = describe(error)
        FileHandle.standardError.write(Data((text + "\n").utf8))
        throw ExitCode(status)
    }
}

func describe(_ error: any Error) -> (Int32, String) {
    switch error {
    case let error as ConfigError:
        return (ExitStatus.badConfiguration, "configuration error: \(error)")
    case let error as PostgresError where error.isConnectionProblem:
        return (
            ExitStatus.unavailable,
            "database unavailable: \(error)\nCheck that PostgreSQL is running and database.url is right.")
    case let error as PostgresError:
        return (ExitStatus.failed, "database error: \(error)")
    case let error as EmbeddedCluster.Failure:
        return (ExitStatus.unavailable, "embedded database unavailable: \(error)")
    case let error as MigrationError:
        return (ExitStatus.failed, "migration refused: \(error)")
    case let error as any ReportableError:
        return (error.exitStatus, error.description)
    default:
        return (ExitStatus.failed, "error: \(error)")
    }
}
