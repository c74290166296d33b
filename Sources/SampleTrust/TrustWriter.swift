import Foundation
import ProvisionModel

/// Writes a built trust as the files a trust's MIS and SENCOs would drop, a configuration
/// that binds them as sources, and `truth.json`.
struct TrustWriter {
    let builder: TrustBuilder
    let out: String
    let pluginsDirectory: String

    /// Writes every school's exports, then the configuration and the truth; `schoolWritten`
    /// is told how many schools are done.
    func write(schoolWritten: (Int) -> Void = { _ in }) throws {
        let files = FileManager.default
        try files.createDirectory(atPath: out, withIntermediateDirectories: true)
        for (index, school) in builder.schools.enumerated() {
            defer { schoolWritten(index + 1) }
            let folder = "\(out)/schools/\(school.urn)"
            for sub in ["ctf", "marksheets", "provision-map"] {
                try files.createDirectory(atPath: "\(folder)/\(sub)", withIntermediateDirectories: true)
            }
            try save(ctf(school), to: "\(folder)/ctf/\(school.laestab)_CTF.xml")
            for term in builder.terms {
                if term.startAssessment <= builder.options.today {
                    try save(marksheet(school, term, at: term.startAssessment, withNGRT: true), to: "\(folder)/marksheets/\(term.label)-start.csv")
                }
                if school.frequency == .halfTermly && term.midAssessment <= builder.options.today {
                    try save(marksheet(school, term, at: term.midAssessment, withNGRT: false), to: "\(folder)/marksheets/\(term.label)-mid.csv")
                }
            }
            try save(Array("\u{FEFF}".utf8) + Array(provisionMap(school).utf8), to: "\(folder)/provision-map/provision-map.csv")
        }
        try save(Array(config().utf8), to: "\(out)/provision.toml")
        try save(Array((truth().serialized + "\n").utf8), to: "\(out)/truth.json")
    }

    private func save(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    // MARK: CTF

    private func xml(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }

    private func ctf(_ school: SchoolPlan) -> [UInt8] {
        let today = builder.options.today
        var text = """
            <?xml version="1.0" encoding="UTF-8"?>
            <!-- Synthetic Common Transfer File written by provisionctl generate: no real pupils. -->
            <CTfile>
              <Header>
                <DocumentName>Common Transfer File</DocumentName>
                <CTFversion>25.0</CTFversion>
                <DateTime>\(today.iso)T06:00:00</DateTime>
                <DocumentQualifier>full</DocumentQualifier>
                <SourceSchool><LEA>\(school.laestab.prefix(3))</LEA><Estab>\(school.laestab.suffix(4))</Estab><URN>\(school.urn)</URN><SchoolName>\(xml(school.name))</SchoolName><AcademicYear>\(SchoolCalendar.academicYear(today))</AcademicYear></SourceSchool>
                <SuppInfo><Generator>send-provision sample trust</Generator></SuppInfo>
              </Header>
              <CTFpupilData>

            """
        for pupil in school.pupils where pupil.admission <= today {
            let year = pupil.yearGroup == 0 ? "R" : String(pupil.yearGroup)
            text += "    <Pupil><UPN>\(pupil.upn)</UPN><Surname>\(xml(pupil.surname))</Surname><Forename>\(xml(pupil.forename))</Forename>"
            text += "<DOB>\(pupil.dob.iso)</DOB><Sex>\(pupil.gender)</Sex><BasicDetails><NCyearActual>\(year)</NCyearActual>"
            text += "<EntryDate>\(pupil.admission.iso)</EntryDate>"
            if let leaving = pupil.leaving { text += "<LeavingDate>\(leaving.iso)</LeavingDate>" }
            text += "</BasicDetails>"
            if pupil.sen != "N", let since = pupil.senStart {
                text += "<SENhistory>"
                if pupil.sen == "E" {
                    // Most EHCP pupils were on SEN support first: an ended period.
                    let before = SchoolDate.fromDayNumber(since.dayNumber - 300)
                    text += "<SEN><StartDate>\(before.iso)</StartDate><SENprovision>K</SENprovision><EndDate>\(SchoolDate.fromDayNumber(since.dayNumber - 1).iso)</EndDate></SEN>"
                }
                text += "<SEN><StartDate>\(since.iso)</StartDate><SENprovision>\(pupil.sen)</SENprovision></SEN><SENneeds>"
                for (rank, need) in pupil.needs.enumerated() {
                    text += "<SENneed><NeedStartDate>\(since.iso)</NeedStartDate><SENtypeRank>\(rank + 1)</SENtypeRank><SENtype>\(need)</SENtype></SENneed>"
                }
                text += "</SENneeds></SENhistory>"
            }
            text += "</Pupil>\n"
        }
        text += "  </CTFpupilData>\n</CTfile>\n"
        return Array(text.utf8)
    }

    // MARK: Marksheets (the sims-assessments preset, Windows-1252 as SIMS writes it)

    private func marksheet(_ school: SchoolPlan, _ term: Term, at day: SchoolDate, withNGRT: Bool) -> [UInt8] {
        var text = "UPN,Surname,NGRT SAS,NGRT Date,Salford RA Months,Salford Date\r\n"
        for pupil in school.pupils {
            let salford = builder.assessed(pupil, "Salford", day)
            let ngrt = withNGRT && builder.assessed(pupil, "NGRT", day)
            guard salford || ngrt else { continue }
            let surname = pupil.surname.contains(",") ? "\"\(pupil.surname)\"" : pupil.surname
            let ngrtCells = ngrt ? "\(Int(builder.observedStandardised(pupil, day))),\(ukDate(day))" : ","
            let salfordCells = salford ? "\(Int(builder.observedReadingAge(pupil, day))),\(ukDate(day))" : ","
            text += "\(pupil.upn),\(surname),\(ngrtCells),\(salfordCells)\r\n"
        }
        return text.unicodeScalars.map { $0.value <= 0xFF ? UInt8($0.value) : UInt8(ascii: "?") }
    }

    private func ukDate(_ day: SchoolDate) -> String {
        String(format: "%02d/%02d/%04d", day.day, day.month, day.year)
    }

    // MARK: Provision map (the SENCO's spreadsheet, UTF-8 with BOM as Excel saves it)

    private func provisionMap(_ school: SchoolPlan) -> String {
        let columns = [
            "Intervention", "Provision ID", "Area of need", "Wave", "Priority", "Statutory (EHCP)", "Delivery", "Staff",
            "Staff role", "Staff hourly cost", "Group size", "Sessions per week", "Minutes per session", "Start date",
            "End date", "Resource cost", "Funding stream", "Outcome instrument", "Outcome subject", "Outcome measure",
            "Target gain", "UPN", "Pupil", "Entry score", "Entry date", "Exit score", "Exit date", "Status",
        ]
        var text = columns.joined(separator: ",") + "\r\n"
        for provision in school.provisions {
            let programme = provision.programme
            let staff = provision.staffIDs.compactMap { id in school.staff.first { $0.id == id } }
            for (position, enrolment) in provision.enrolments.enumerated() {
                let pupil = school.pupils[enrolment.pupil]
                var cells = [String](repeating: "", count: columns.count)
                func set(_ column: String, _ value: String) {
                    if let index = columns.firstIndex(of: column) { cells[index] = value }
                }
                set("Intervention", programme.name)
                set("Provision ID", provision.id)
                set("Start date", ukDate(provision.start))
                set("End date", ukDate(provision.end))
                set("UPN", pupil.upn)
                set("Pupil", "\(pupil.forename) \(pupil.surname)")
                set("Status", enrolment.status)
                if let entry = enrolment.entry {
                    set("Entry score", String(Int(entry.value)))
                    set("Entry date", ukDate(entry.date))
                }
                if let exit = enrolment.exit {
                    set("Exit score", String(Int(exit.value)))
                    set("Exit date", ukDate(exit.date))
                }
                if position == 0 {
                    set("Area of need", programme.areaOfNeed)
                    set("Wave", String(programme.wave))
                    set("Priority", programme.priority)
                    set("Statutory (EHCP)", programme.statutory ? "Yes" : "No")
                    set("Delivery", programme.groupSize.upperBound == 1 ? "individual" : "group")
                    set("Staff", staff.map(\.name).joined(separator: "; "))
                    set("Staff role", staff.first?.role ?? (programme.statutory ? "external" : ""))
                    set("Staff hourly cost", staff.first.map { String(format: "%.2f", $0.cost) } ?? String(format: "%.2f", programme.hourlyCost))
                    set("Group size", String(max(1, provision.enrolments.count)))
                    set("Sessions per week", String(programme.sessionsPerWeek))
                    set("Minutes per session", String(programme.minutes))
                    set("Resource cost", String(format: "%.0f", programme.resourceCost))
                    set("Funding stream", programme.statutory ? "High needs top-up" : "Notional SEN budget")
                    if let instrument = programme.instrument, let measure = programme.measure {
                        set("Outcome instrument", instrument)
                        set("Outcome subject", programme.subject ?? "")
                        set("Outcome measure", measure)
                        set("Target gain", measure == "standardised" ? "3" : "6")
                    }
                }
                text += cells.map { $0.contains(",") || $0.contains("\"") ? "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : $0 }
                    .joined(separator: ",") + "\r\n"
            }
        }
        return text
    }

    // MARK: Config and truth

    private func config() -> String {
        var text = """
            # A synthetic trust written by `provisionctl generate` (seed \(builder.options.seed), up to \(builder.options.today.iso)).
            # Run it with: provisiond --config provision.toml --once
            # Every key is documented in config/provision.example.toml.

            [trust]
            name = "Sample Learning Trust"
            send_lead = ["send.lead@sample-trust.example"]

            [state]
            dir = "state"

            [plugins]
            dirs = ["\(pluginsDirectory)"]


            """
        for school in builder.schools {
            text += "[[schools]]\nurn = \"\(school.urn)\"\nname = \"\(school.name)\"\nsencos = [\"\(school.senco)\"]\n\n"
        }
        for school in builder.schools {
            let slug = Names.slug(school.name)
            text += """
                [[sources]]
                name = "\(slug)-ctf"
                plugin = "ctf"
                path = "schools/\(school.urn)/ctf"
                schools = ["\(school.urn)"]
                schedule = "0 2 * * *"

                [[sources]]
                name = "\(slug)-marksheets"
                plugin = "mis-csv"
                path = "schools/\(school.urn)/marksheets"
                schools = ["\(school.urn)"]
                schedule = "0 2 * * *"
                env = { MAPPING = "sims-assessments" }

                [[sources]]
                name = "\(slug)-provision-map"
                plugin = "provision-map"
                path = "schools/\(school.urn)/provision-map"
                schools = ["\(school.urn)"]
                schedule = "0 2 * * *"


                """
        }
        return text
    }

    private func truth() -> JSONValue {
        let today = builder.options.today
        var stalled: [JSONValue] = []
        var interventions: [JSONValue] = []
        var missingExit: [JSONValue] = []
        var notDelivered: [JSONValue] = []
        var needWithoutProvision: [JSONValue] = []
        for school in builder.schools {
            var activePupils: Set<Int> = []
            for provision in school.provisions {
                let programme = provision.programme
                interventions.append(.object([
                    "school_urn": .string(school.urn), "provision_id": .string(provision.id), "name": .string(programme.name),
                    "true_effect_months_per_month": .number(programme.effect), "measure": programme.measure.map { .string($0) } ?? .null,
                    "pupils": .number(Double(provision.enrolments.count)), "statutory": .bool(programme.statutory),
                ]))
                for enrolment in provision.enrolments {
                    let upn = school.pupils[enrolment.pupil].upn
                    if enrolment.status == "active" && provision.start <= today { activePupils.insert(enrolment.pupil) }
                    if enrolment.missingExit {
                        missingExit.append(.object([
                            "school_urn": .string(school.urn), "provision_id": .string(provision.id), "upn": .string(upn),
                            "start_date": .string(provision.start.iso),
                        ]))
                    }
                    if programme.statutory && enrolment.status != "active" {
                        notDelivered.append(.object([
                            "school_urn": .string(school.urn), "provision_id": .string(provision.id), "upn": .string(upn),
                        ]))
                    }
                }
            }
            for (index, pupil) in school.pupils.enumerated() where pupil.onRoll(today) {
                if let from = pupil.stallFrom {
                    stalled.append(.object([
                        "school_urn": .string(school.urn), "upn": .string(pupil.upn), "sen": .string(pupil.sen),
                        "from": .string(from.iso), "detectable": .bool(builder.stallIsDetectable(pupil, school: school)),
                        "assessment_frequency": .string(school.frequency.rawValue),
                    ]))
                }
                if pupil.sen != "N" && !activePupils.contains(index) {
                    needWithoutProvision.append(.object(["school_urn": .string(school.urn), "upn": .string(pupil.upn), "sen": .string(pupil.sen)]))
                }
            }
        }
        let programmes: [JSONValue] = (Programme.catalogue + [.statutorySpeech]).map {
            .object(["name": .string($0.name), "true_effect_months_per_month": .number($0.effect), "measure": $0.measure.map { .string($0) } ?? .null])
        }
        return .object([
            "generated": .object([
                "seed": .number(Double(builder.options.seed)), "schools": .number(Double(builder.options.schools)),
                "pupils": .number(Double(builder.options.pupils)), "terms": .number(Double(builder.terms.count)),
                "today": .string(today.iso),
                "measurement_error": .object(["age_months": .number(TrustBuilder.readingAgeNoise), "standardised": .number(TrustBuilder.standardisedNoise)]),
            ]),
            "schools": .array(builder.schools.map {
                .object(["urn": .string($0.urn), "assessment_frequency": .string($0.frequency.rawValue)])
            }),
            "programmes": .array(programmes), "interventions": .array(interventions),
            "stalled_pupils": .array(stalled), "missing_exit": .array(missingExit),
            "ehcp_provision_not_delivered": .array(notDelivered), "need_without_provision": .array(needWithoutProvision),
        ])
    }
}

/// Generates a synthetic trust into `out` (DESIGN: the data behind the demo, the tests and
/// the benchmarks; never real pupil data).
public enum SampleTrust {
    /// Writes the trust and returns counts for the summary. `progress` is told the work done
    /// and the whole (simulating each school, then writing each school's files).
    public static func generate(
        _ options: TrustOptions, out: String, pluginsDirectory: String, progress: ((_ done: Int, _ total: Int) -> Void)? = nil
    ) throws -> (pupils: Int, files: Int) {
        var builder = TrustBuilder(options: options)
        let total = 2 * options.schools
        builder.build { progress?($0, total) }
        try TrustWriter(builder: builder, out: out, pluginsDirectory: pluginsDirectory).write { progress?(options.schools + $0, total) }
        let files = (FileManager.default.enumerator(atPath: out)?.allObjects.count) ?? 0
        return (builder.schools.reduce(0) { $0 + $1.pupils.count }, files)
    }
}
