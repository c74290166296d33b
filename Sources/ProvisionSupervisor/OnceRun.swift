import Foundation
import Logging
import ProvisionAlerts
import ProvisionConfig
import ProvisionApp
import ProvisionImport
import ProvisionModel
import ProvisionReports
import ProvisionStore

/// `provisiond --once`: every source now, one after another, then the trust evaluated and
/// the mail delivered, with a summary for the person who ran it on standard output.
public struct OnceRun {
    let config: Configuration
    let database: ProvisionDatabase
    let logger: Logger

    /// A run of everything in `config` against `database`.
    public init(config: Configuration, database: ProvisionDatabase, logger: Logger) {
        self.config = config
        self.database = database
        self.logger = logger
    }

    /// True when every source imported (or was unchanged) and every message was delivered.
    public func run() async throws -> Bool {
        PluginSandbox.warnIfWeak(config.plugins, logger: logger)
        let catalog = PluginCatalog.discover(in: config.plugins.directories)
        for problem in catalog.problems { logger.warning("plugin problem", metadata: ["problem": "\(problem)"]) }
        let pipeline = ImportPipeline(database: database, stateDirectory: config.stateDirectory, logger: logger)
        var failures = 0
        print("Imports:")
        for source in config.sources {
            guard let plugin = catalog.plugin(named: source.plugin) else {
                print("  source \(source.name): \(catalog.unavailable(source.plugin, directories: config.plugins.directories))")
                failures += 1
                continue
            }
            let summary = try await pipeline.run(ImportRequest(source: source, config: config, plugin: plugin))
            let records = summary.accepted.values.reduce(0, +)
            var line = "  source \(source.name): run \(summary.runID) \(summary.status.rawValue)"
            if summary.status == .succeeded { line += ", \(records) records, \(summary.rejected) rejected" }
            if let failure = summary.failure { line += ": \(failure)" }
            print(line)
            if summary.status == .failed { failures += 1 }
        }
        print("\(config.sources.count) sources, \(failures) failed")

        let db = try await database.connect(applicationName: "provisiond-once")
        let (summary, alerts) = try await evaluateAndAlert(
            db, config: config, asOf: SchoolDate.today(),
            openHelper: { [database] in try await database.connect(applicationName: "provisiond-once-stalls") })
        print(EvaluationText.render(summary, alerts: alerts, scope: "the trust"))
        // As the daemon does after a trust evaluation: what is past `[retention]` goes. The
        // reports and the mail still follow if that fails.
        do {
            let applied = try await Retention.apply(db, config.retention)
            if !applied.isEmpty { print("  Retention: \(applied.summary).") }
        } catch {
            print("  [retention] not applied: \(error)")
        }
        let folder = Reports.folder(for: config)
        for school in config.schools {
            do {
                try await Reports.writeSchoolReports(school: school.urn, db: db, config: config, folder: folder, today: SchoolDate.today())
            } catch {
                print("  reports for \(school.urn) not written: \(error)")
            }
        }
        // Once is digest time: whatever the digest policy would send today goes now.
        let templates = try await DigestTemplates.load(config)
        let config = self.config
        try await db.transaction { db in
            try await Digests.queueDue(db, config: config, templates: templates, asIfDigestTime: true)
        }
        let mail = try await Mailer(transport: Mailer.transport(for: config)).flush(db)
        await db.close()
        var destination = config.mail.transport.rawValue
        if config.mail.transport == .maildir { destination += " \(config.mail.maildir)/new" }
        print("Mail: \(mail.sent) sent, \(mail.deferred) waiting to retry, \(mail.failed) failed (\(destination))")
        print("Reports: each school's provision map and impact report for this term in \(folder)/URN/")
        return failures == 0 && mail.failed == 0 && mail.deferred == 0
    }
}
