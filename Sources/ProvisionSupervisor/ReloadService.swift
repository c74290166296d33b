import Foundation
import Logging
import ProvisionConfig
import ServiceLifecycle
import UnixSignals

/// Reloads the configuration on SIGHUP. A new file that does not load is refused, with its
/// file, line and key in the log, and the configuration in force stays as it was.
struct ReloadService: Service {
    let supervisor: Supervisor
    let path: String
    /// Trapped by the caller before the daemon announced itself, so no SIGHUP is lost.
    let hangups: UnixSignalsSequence

    func run() async throws {
        await cancelWhenGracefulShutdown {
            for await _ in hangups { reload() }
        }
    }

    func reload() {
        let logger = supervisor.logger
        let new: Configuration
        do {
            new = try Configuration.load(from: path)
        } catch {
            logger.error("configuration not reloaded; the previous one stays in force", metadata: ["error": "\(error)"])
            return
        }
        let old = supervisor.configuration
        var needRestart: [String] = []
        if new.database.url != old.database.url { needRestart.append("database.url") }
        if new.stateDirectory != old.stateDirectory { needRestart.append("state.dir") }
        if new.daemon.workers != old.daemon.workers { needRestart.append("daemon.workers") }
        if new.daemon.httpListen.map({ "\($0.host):\($0.port)" }) != old.daemon.httpListen.map({ "\($0.host):\($0.port)" }) {
            needRestart.append("daemon.http_listen")
        }
        supervisor.replaceConfiguration(new)
        logger.notice(
            "configuration reloaded",
            metadata: ["schools": "\(new.schools.count)", "sources": "\(new.sources.count)"])
        if !needRestart.isEmpty {
            logger.warning("some changes take effect only after a restart", metadata: ["keys": "\(needRestart.joined(separator: ","))"])
        }
    }
}
