import ArgumentParser
import Foundation
import ProvisionApp
import ProvisionModel
import ProvisionReports

extension ReportKind: ExpressibleByArgument {}
extension ReportFormat: ExpressibleByArgument {}
extension ReportAudience: ExpressibleByArgument {}

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a report: provision-map, impact, needs, costs, pupil or trust.",
        discussion: """
              provision-map  the termly provision map of one school (--school): provisions by area of
                             need and wave, staff, frequency, hours, cost, pupils with entry and exit,
                             impact so far; totals; the school's SEN summary
              impact         per provision and programme: n, effect and interval, verdict, cost per
                             pupil and per unit of gain, with each pupil's entry → exit chart
              needs          pupils with SEN by primary need and year group, and the share served
              costs          by provision, area of need, funding stream and member of staff
              pupil          every provision one pupil has had (--upn), for reviews and parents
              trust          the schools side by side

            HTML is one self-contained file that prints on A4 landscape and reads on a phone; CSV
            opens in Excel (UTF-8 with BOM, one header row); JSON has stable field names. Reports
            name pupils: keep them within the school and the trust. Terms are 2026-autumn
            (Sep–Dec), 2027-spring (Jan–Mar), 2027-summer (Apr–Aug); default the current term, except
            for impact and trust: the most recent term with evaluated outcomes (the title says which).
            Without --out the report goes to standard output.
            """)

    @OptionGroup var options: ConfigOption

    @Argument(help: "provision-map, impact, needs, costs, pupil or trust.")
    var kind: ReportKind

    @Option(help: "One school (URN); the whole trust when left out (provision-map needs it).")
    var school: String?

    @Option(help: "The term, e.g. 2026-autumn, 2027-spring, 2027-summer. Default: the current term.")
    var term: String?

    @Option(help: "html, csv or json.")
    var format: ReportFormat = .html

    @Option(help: "The pupil's UPN (pupil report).")
    var upn: String?

    @Option(help: "Write to this file instead of standard output.")
    var out: String?

    @Option(help: "staff (every figure) or parent (the pupil report in plain words, for the family; prints on A4).")
    var audience: ReportAudience = .staff

    func validate() throws {
        if let term, ReportTerm(term) == nil {
            throw ValidationError("--term must look like 2026-autumn, 2027-spring or 2027-summer, got '\(term)'.")
        }
        if kind == .pupil && upn == nil { throw ValidationError("The pupil report needs --upn UPN.") }
        if audience == .parent && kind != .pupil { throw ValidationError("--audience parent is for the pupil report only.") }
        if kind == .provisionMap && school == nil { throw ValidationError("A provision map is for one school: give --school URN.") }
    }

    func run() async throws {
        try await reportingErrors {
            let config = try options.load()
            if let school, config.school(urn: school) == nil {
                throw UsageProblem("School \(school) is not declared in \(config.file).")
            }
            let (kind, school, term, upn, audience) = (kind, school, term, upn, audience)
            let bytes = try await withConnection(config, applicationName: "provisionctl-report", migrated: true) { _, db in
                var chosen = term.flatMap(ReportTerm.init) ?? ReportTerm(containing: SchoolDate.today())
                if kind == .impact || kind == .trust, term == nil,
                    let latest = try await Reports.latestTermWithOutcomes(db: db, school: school)
                {
                    chosen = latest
                }
                let request = ReportRequest(kind: kind, school: school, term: chosen, upn: upn, audience: audience)
                do {
                    return try await Reports.build(request, db: db, config: config).rendered(format)
                } catch let error as ReportRequestError {
                    throw UsageProblem(error.description)
                }
            }
            if let out {
                do {
                    try PrivateFiles.write(bytes, to: out)
                } catch {
                    throw UsageProblem("Cannot write the report: \(error)")
                }
                FileHandle.standardError.write(Data("Wrote \(kind.rawValue) (\(format.rawValue), \(bytes.count) bytes) to \(out)\n".utf8))
            } else {
                FileHandle.standardOutput.write(Data(bytes))
            }
        }
    }
}
