import Foundation
import Postgres
import ProvisionConfig
import ProvisionModel

/// What a report is asked for, as `provisionctl report` takes it.
public struct ReportRequest: Sendable {
    public var kind: ReportKind
    public var school: String?
    public var term: ReportTerm
    public var upn: String?

    public init(kind: ReportKind, school: String? = nil, term: ReportTerm, upn: String? = nil) {
        self.kind = kind
        self.school = school
        self.term = term
        self.upn = upn
    }
}

/// A request that cannot be met as asked: the message says what to change.
public struct ReportRequestError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// Builds reports (DESIGN §8) from the database: the entry point for the command line and
/// the daemon.
public enum Reports {
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
                return try await PupilReport.build(data, upn: upn)
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
