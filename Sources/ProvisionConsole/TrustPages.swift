import Foundation
import Hummingbird
import ProvisionAccounts
import ProvisionAlerts
import ProvisionImport
import ProvisionJobs
import ProvisionModel
import ProvisionReports

/// The lead's pages (the trust dashboard and the audit log) and the operations page the IT
/// admin sees: sources, runs, jobs and mail, with no pupil in sight.
struct TrustPages {
    let console: Console

    func add(to router: Router<ConsoleContext>) {
        router.get("trust") { _, context in try await trust(context) }
        router.get("trust/report") { request, context -> Response in
            let visitor = try context.signedIn()
            try Access.require(visitor, .wholeTrust)
            let term = try SchoolPages.term(request)
            let report = try await console.db { db in
                try await Reports.build(ReportRequest(kind: .trust, term: term), db: db, config: console.configuration())
            }
            try await console.audit(visitor, context, "report.view", subject: "trust")
            return Reply.document(report.rendered(.html))
        }
        router.get("audit") { _, context in try await audit(context) }
        router.get("operations") { _, context in try await operations(context) }
    }

    private func trust(_ context: ConsoleContext) async throws -> Response {
        let visitor = try context.signedIn()
        try Access.require(visitor, .wholeTrust)
        let term = ReportTerm(containing: SchoolDate.today())
        let urns = console.schoolURNs
        let (figures, programmes) = try await console.db { db in
            (try await ConsoleQueries.trustFigures(db, urns: urns, term: term), try await ConsoleQueries.programmes(db))
        }
        return console.pages.render(
            "trust", title: "Trust dashboard", visitor: visitor, console: console,
            values: [
                "term": term.title,
                "schools": urns.map { urn -> [String: Any] in
                    let f = figures[urn] ?? ConsoleQueries.SchoolFigures()
                    return [
                        "urn": urn, "name": console.schoolName(urn), "on_roll": f.onRoll, "sen_support": f.senSupport,
                        "ehcp": f.ehcp, "alerts": f.openAlerts, "provisions": f.provisionsThisTerm,
                    ]
                },
                "has_programmes": !programmes.isEmpty,
                "programmes": programmes.map { programme -> [String: Any] in
                    ["name": programme.name, "n": programme.n, "verdict": programme.verdict.replacingOccurrences(of: "_", with: " "),
                     "effect": programme.effect.map { String(format: "%.2f", $0) } ?? "–"]
                },
            ])
    }

    private func audit(_ context: ConsoleContext) async throws -> Response {
        let visitor = try context.signedIn()
        try Access.require(visitor, .auditLog)
        let entries = try await console.db { try await AuditLog.recent($0, limit: 500) }
        let formatter = ISO8601DateFormatter()
        return console.pages.render(
            "audit", title: "Audit log", visitor: visitor, console: console,
            values: [
                "entries": entries.map { entry -> [String: Any] in
                    [
                        "at": formatter.string(from: entry.at), "email": entry.email, "address": entry.address ?? "",
                        "action": entry.action, "school": entry.schoolURN ?? "", "subject": entry.subject ?? "",
                        "detail": entry.detail == "{}" ? "" : entry.detail,
                    ]
                },
            ])
    }

    private func operations(_ context: ConsoleContext) async throws -> Response {
        let visitor = try context.signedIn()
        try Access.require(visitor, .operations)
        let configuration = console.configuration()
        let (runs, jobs, outbox) = try await console.db { db in
            (try await ImportRuns.latest(db), try await JobQueue.counts(db), try await MailOutboxCounts.read(db))
        }
        let formatter = ISO8601DateFormatter()
        return console.pages.render(
            "operations", title: "Operations", visitor: visitor, console: console,
            values: [
                "sources": configuration.sources.map { source -> [String: Any] in
                    let run = runs[source.name]
                    return [
                        "name": source.name, "plugin": source.plugin, "schools": source.schools.joined(separator: ", "),
                        "status": run?.status ?? "never run", "started": run.map { formatter.string(from: $0.startedAt) } ?? "",
                        "failure": run?.failure ?? "",
                        "last_success": run?.lastSuccessAt.map { formatter.string(from: $0) } ?? "–",
                    ]
                },
                "jobs": ["running": jobs.running, "due": jobs.due, "available": jobs.available, "failed": jobs.failed],
                "outbox": ["pending": outbox.pending, "failed": outbox.failed],
            ])
    }
}
