import ImporterKit
import ProvisionModel

/// One provision-map row → provision (first time), staff (first time), enrolment.
enum ProvisionMapRow {
    static func convert(
        _ row: CSVRecord, schools: [String], writer: RecordWriter, provisionsSeen: inout Set<String>,
        staffSeen: inout Set<String>, outcomeMeasures: inout [String: String], scoresNotTaken: inout Int
    ) throws {
        typealias Columns = ProvisionMapColumns
        func cell(_ column: String) -> String? { row[column] }
        func read<T>(_ column: String, _ parse: (String) -> T?, _ expected: String) throws -> T? {
            guard let text = cell(column) else { return nil }
            guard let value = parse(text) else { throw ImporterError("\(column) '\(text.prefix(40))' is not \(expected)") }
            return value
        }
        func number(_ column: String) throws -> JSONValue? {
            try read(column, { SpreadsheetNumber.parse($0, money: true) }, "a number")
                .map { .number($0) }
        }
        func date(_ column: String) throws -> JSONValue? {
            try read(column, Columns.date, "a date (dd/mm/yyyy)").map { .string($0.iso) }
        }

        guard let intervention = cell("Intervention") else { throw ImporterError("Intervention is empty") }
        guard let upn = cell("UPN") else { throw ImporterError("UPN is empty") }
        guard let start = try read("Start date", Columns.date, "a date (dd/mm/yyyy)") else {
            throw ImporterError("Start date is empty")
        }
        let urn = cell("School URN") ?? schools.first ?? ""
        let provisionID = cell("Provision ID") ?? Columns.slug(intervention) + "-" + start.iso

        // Staff: several names may share a cell, separated by ';' or '/'.
        let staffNames = (cell("Staff") ?? "").split(whereSeparator: { $0 == ";" || $0 == "/" })
            .map { String($0).trimmedWhitespace }.filter { !$0.isEmpty }
        let staffIDs = staffNames.map(Columns.slug)
        let role = try read("Staff role", Columns.role, "teacher, TA, HLTA, SENCO or external")
        let staffCost = try number("Staff hourly cost")

        // Everything in the row is checked before any record is written for it.
        let provisionKey = urn + "/" + provisionID
        var provision: [String: JSONValue?]?
        // The provision's outcome measure, from its first row: how its scores are read.
        var measure = outcomeMeasures[provisionKey]
        if !provisionsSeen.contains(provisionKey) {
            var outcome: JSONValue?
            if let instrument = cell("Outcome instrument") {
                guard let outcomeMeasure = try read("Outcome measure", Columns.measure, "a measure (reading age months, standardised, scaled, raw, steps)") else {
                    throw ImporterError("Outcome measure is empty but Outcome instrument is given")
                }
                measure = outcomeMeasure
                outcome = .object([
                    "instrument": .string(instrument), "subject": .string(cell("Outcome subject") ?? "unknown"),
                    "measure": .string(outcomeMeasure), "target_gain": try read("Target gain", Columns.gain, "a number (6, +6 or 6 months)").map { .number($0) } ?? .null,
                ].filter { $0.value != .null })
            }
            provision = [
                "school_urn": .string(urn), "provision_id": .string(provisionID), "name": .string(intervention),
                "area_of_need": try read("Area of need", Columns.areaOfNeed, "an area of need (CI, CL, SEMH, SP)").map { .string($0) },
                "wave": try read("Wave", Columns.wave, "a wave (1, 2 or 3)").map { .number(Double($0)) },
                "priority": try read("Priority", { ["must", "should", "could"].contains($0.lowercased()) ? $0.lowercased() : nil }, "must, should or could").map { .string($0) },
                "statutory": try read("Statutory (EHCP)", SchoolVocabulary.flag, "yes or no").map { .bool($0) },
                "delivery": try read("Delivery", Columns.delivery, "individual, group or class").map { .string($0) },
                "staff_ids": staffIDs.isEmpty ? nil : .array(staffIDs.map { .string($0) }),
                "group_size": try read("Group size", Columns.groupSize, "a number of pupils").map { .number($0) },
                "sessions_per_week": try read("Sessions per week", Columns.sessionsPerWeek, "a number of sessions (3, 3x, daily)").map { .number($0) },
                "minutes_per_session": try read("Minutes per session", Columns.minutesPerSession, "a number of minutes (30, 30 mins, 1 hour)")
                    .map { .number($0) },
                "start_date": .string(start.iso),
                // An hourly cost for staff not named on the map (an external therapist, say)
                // is the provision's own: otherwise the time would cost nothing.
                "end_date": try date("End date"), "hourly_cost": try number("Hourly cost") ?? (staffIDs.isEmpty ? staffCost : nil),
                "resource_cost": try number("Resource cost"), "funding_stream": .text(cell("Funding stream")),
                "outcome": outcome,
            ]
        }
        var point: [String: JSONValue] = [:]
        var notTaken = 0
        func measurement(_ scoreColumn: String, _ dateColumn: String) throws -> JSONValue? {
            guard let text = cell(scoreColumn) else { return nil }
            if SchoolVocabulary.notTaken(text) {
                notTaken += 1
                return nil
            }
            point = ["value": .number(try SpreadsheetNumber.score(text, measure: measure, column: scoreColumn))]
            if let when = try date(dateColumn) { point["date"] = when }
            return .object(point)
        }
        let enrolment: [String: JSONValue?] = [
            "school_urn": .string(urn), "provision_id": .string(provisionID), "upn": .string(upn.uppercased()),
            "start_date": .string(start.iso), "end_date": try date("End date"),
            "status": try read("Status", Columns.status, "planned, active, completed or withdrawn").map { .string($0) },
            "target": .text(cell("Target")), "entry": try measurement("Entry score", "Entry date"),
            "exit": try measurement("Exit score", "Exit date"), "parent_informed": try date("Parent informed"),
        ]

        for (name, id) in zip(staffNames, staffIDs) where staffSeen.insert(urn + "/" + id).inserted {
            writer.record("staff", [
                "school_urn": .string(urn), "staff_id": .string(id), "name": .string(name),
                "role": role.map { .string($0) }, "hourly_cost": staffCost,
            ])
        }
        if let provision {
            provisionsSeen.insert(provisionKey)
            outcomeMeasures[provisionKey] = measure
            writer.record("provision", provision)
        }
        writer.record("enrolment", enrolment)
        scoresNotTaken += notTaken
    }
}
