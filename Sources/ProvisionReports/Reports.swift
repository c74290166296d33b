import Foundation
import Postgres
import ProvisionConfig
import ProvisionModel

/// What a report is asked for, as `provisionctl report` takes it.
public struct ReportRequest: Sendable {
    /// Which report.
    public var kind: ReportKind
    /// The school's URN; nil for the trust report.
    public var school: String?
    /// The term it covers.
    public var term: ReportTerm
    /// The pupil, for the pupil report.
    public var upn: String?
    /// Who the report is for: staff (every figure) or a pupil's parents (plain words).
    public var audience: ReportAudience

    /// A request for `kind` of `term` (staff audience unless said).
    public init(kind: ReportKind, school: String? = nil, term: ReportTerm, upn: String? = nil, audience: ReportAudience = .staff) {
        self.kind = kind
        self.school = school
        self.term = term
        self.upn = upn
        self.audience = audience
    }
}

/// Who reads a report. Only the pupil report has a parents' version so far.
public enum ReportAudience: String, Sendable, CaseIterable {
    case staff, parent
}

/// A request that cannot be met as asked: the message says what to change.
public struct ReportRequestError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// Builds reports (DESIGN §8) from the database: the entry point for the command line and
/// the daemon.
public enum Reports {
    /// The most recent term with evaluated outcomes (pupils with entry and exit in the latest
    /// evaluation), for the impact report's default: the current term's interventions have
    /// usually not ended yet. Nil when nothing has been evaluated.
    public static func latestTermWithOutcomes(db: PostgresConnection, school: String?) async throws -> ReportTerm? {
        var schoolID: Int64?
        if let school {
            guard let id = try await db.query("SELECT id FROM schools WHERE urn = $1", school).singleRow() else { return nil }
            schoolID = try id.decode("id")
        }
        guard let run = try await ReportData.evaluationRun(db, school: schoolID) else { return nil }
        let row = try await db.query(
            """
            SELECT max(coalesce(pr.end_date, o.exit_date))::text AS day
              FROM enrolment_outcomes o JOIN enrolments e ON e.id = o.enrolment_id JOIN provisions pr ON pr.id = e.provision_id
             WHERE o.evaluation_run_id = $1 AND o.gain IS NOT NULL AND ($2::bigint IS NULL OR pr.school_id = $2)
            """, run.id, schoolID
        ).singleRow()
        return try row?.decode("day", as: String?.self).flatMap(SchoolDate.init(iso:)).map(ReportTerm.init(containing:))
    }

    /// Reads what `request` needs from `db` and builds the report: the document, CSV rows and JSON.
    public static func build(_ request: ReportRequest, db: PostgresConnection, config: Configuration) async throws -> Report {
        let data = ReportData(db: db, config: config, term: request.term)
        var school: ReportData.School?
        if let urn = request.school {
            guard let found = try await data.schools(only: urn).first else {
                throw ReportRequestError(description: "School \(urn) has no data yet (nothing imported for it).")
            }
            school = found
        }
        switch request.kind {
        case .provisionMap:
            guard let school else { throw ReportRequestError(description: "A provision map is for one school: give --school URN.") }
            return try await ProvisionMapReport.build(data, school: school)
        case .impact: return try await ImpactReport.build(data, school: school)
        case .needs: return try await NeedsReport.build(data, school: school)
        case .costs: return try await CostsReport.build(data, school: school)
        case .pupil:
            guard let upn = request.upn else { throw ReportRequestError(description: "The pupil report needs --upn UPN.") }
            do {
                return request.audience == .parent
                    ? try await PupilReport.buildForParents(data, upn: upn)
                    : try await PupilReport.build(data, upn: upn)
            } catch let error as PupilReport.NotFound {
                throw ReportRequestError(description: error.description)
            }
        case .trust: return try await TrustReport.build(data)
        }
    }

    /// Writes each school's provision map, impact and needs reports for the current term as HTML
    /// into `folder/URN/` (what the daemon does after every evaluation), replacing the
    /// previous files atomically. Returns the paths written.
    @discardableResult
    public static func writeSchoolReports(
        school urn: String, db: PostgresConnection, config: Configuration, folder: String, today: SchoolDate
    ) async throws -> [String] {
        let term = ReportTerm(containing: today)
        let directory = folder + "/" + urn
        try PrivateFiles.createFolder(folder)
        try PrivateFiles.createFolder(directory)
        var written: [String] = []
        for kind in [ReportKind.provisionMap, .impact, .needs] {
            let report = try await build(ReportRequest(kind: kind, school: urn, term: term), db: db, config: config)
            let path = "\(directory)/\(term)-\(kind.rawValue).html"
            try PrivateFiles.write(report.rendered(.html), to: path)
            written.append(path)
        }
        return written
    }

    /// Where the daemon writes a school's reports.
    public static func folder(for config: Configuration) -> String { config.stateDirectory + "/reports" }
}
