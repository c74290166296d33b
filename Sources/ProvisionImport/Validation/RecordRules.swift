import ProvisionModel

/// The per-type rules of protocol v1 (DESIGN §4).
enum RecordRules {
    /// Record types that carry data (everything but header, end and error).
    static let dataTypes: Set<String> = ["school", "pupil", "assessment", "staff", "provision", "enrolment", "plan"]

    static func validate(type: String, fields: JSONMembers) throws(RecordProblem) -> ValidRecord {
        var reader = FieldReader(type: type, fields: fields)
        var warning: String?
        let urn: String
        switch type {
        case "school":
            urn = try reader.urn("urn")
            if let laestab = try reader.string("laestab", maxLength: 20),
                !(laestab.utf8.count == 7 && laestab.utf8.allSatisfy { $0 >= 48 && $0 <= 57 })
            {
                throw RecordProblem("school.laestab must be seven digits (LA code and establishment number), got '\(laestab)'")
            }
            _ = try reader.string("name")
            _ = try reader.string("phase", maxLength: 40)
        case "pupil":
            urn = try reader.urn("school_urn")
            let (upn, upnWarning) = try reader.upn("upn")
            let surname = try reader.requiredString("surname", maxLength: 100)
            let forename = try reader.requiredString("forename", maxLength: 100)
            guard let dob = try reader.date("dob", required: true, personal: true) else { throw RecordProblem("pupil.dob is required") }
            let gender = try reader.code("gender", in: Codes.genders)
            let yearGroup = try reader.code("year_group", in: Codes.yearGroups)
            let admitted = try reader.date("admission_date")
            let left = try reader.date("leaving_date")
            if let admitted, let left, left < admitted {
                throw RecordProblem("pupil.leaving_date is before admission_date")
            }
            if let admitted, admitted < dob {
                throw RecordProblem("pupil.admission_date is before the date of birth")
            }
            let sen = try reader.code("sen_provision", in: Codes.senProvision)
            let senStart = try reader.date("sen_start_date")
            let needs = try reader.array("needs").map(validateNeeds)
            var flags: [String?] = []
            for flag in ["fsm", "pupil_premium", "eal", "looked_after"] { flags.append(try reader.bool(flag).map { $0 ? "t" : "f" }) }
            let values = [surname, forename, dob.iso, gender, yearGroup, admitted?.iso, left?.iso, sen, senStart?.iso] + flags + [upnWarning]
            return ValidRecord(schoolURN: urn, pupil: PupilFields(upn: upn, values: values, needs: needs))
        case "assessment":
            urn = try reader.urn("school_urn")
            let upn = try reader.upn("upn").upn
            let instrument = try reader.requiredString("instrument", maxLength: 60)
            let subject = try reader.requiredString("subject", maxLength: 60)
            guard let measure = try reader.code("measure", in: Codes.measures, required: true),
                  let value = try reader.number("value", required: true, range: -1000...100_000)
            else { throw RecordProblem("assessment.measure and assessment.value are required") }
            if measure == "standardised", !(40...160).contains(value) {
                throw RecordProblem("assessment.value \(FieldReader.format(value)) is outside 40–160, impossible for a standardised score")
            }
            if measure == "age_months", !(0...300).contains(value) {
                throw RecordProblem("assessment.value \(FieldReader.format(value)) is outside 0–300 months, impossible for an age-equivalent score")
            }
            // Kept (a nursery pupil's language age can be this low), but most such values are
            // a reading age written in years: 7.04 for 88 months.
            if measure == "age_months", value < 18 {
                warning = "assessment.value \(FieldReader.format(value)) months is under 18 for an age-equivalent score: "
                    + "if it is years (7.04 for 7 years 4 months), send months (88)"
            }
            guard let date = try reader.date("date", required: true) else { throw RecordProblem("assessment.date is required") }
            return ValidRecord(
                schoolURN: urn,
                result: ResultFields(upn: upn, instrument: instrument, subject: subject, measure: measure, value: value, date: date.iso),
                warning: warning)
        case "staff":
            urn = try reader.urn("school_urn")
            _ = try reader.requiredString("staff_id", maxLength: 60)
            _ = try reader.requiredString("name", maxLength: 120)
            _ = try reader.code("role", in: Codes.staffRoles)
            _ = try reader.string("email", maxLength: 200)
            _ = try reader.number("hourly_cost", range: 0...10_000)
        case "provision":
            urn = try reader.urn("school_urn")
            _ = try reader.requiredString("provision_id", maxLength: 80)
            _ = try reader.requiredString("name", maxLength: 200)
            _ = try reader.code("area_of_need", in: Codes.areasOfNeed)
            _ = try reader.integer("wave", range: 1...3)
            _ = try reader.code("priority", in: Codes.priorities)
            _ = try reader.bool("statutory")
            _ = try reader.code("delivery", in: Codes.deliveries)
            _ = try reader.stringArray("staff_ids")
            _ = try reader.integer("group_size", range: 1...500)
            _ = try reader.number("sessions_per_week", range: 0...50)
            _ = try reader.integer("minutes_per_session", range: 0...600)
            let start = try reader.date("start_date")
            let end = try reader.date("end_date")
            if let start, let end, end < start { throw RecordProblem("provision.end_date is before start_date") }
            _ = try reader.number("hourly_cost", range: 0...10_000)
            _ = try reader.number("resource_cost", range: 0...1_000_000)
            _ = try reader.string("funding_stream", maxLength: 80)
            if let outcome = try reader.object("outcome") {
                var inner = reader.nested("outcome", outcome)
                _ = try inner.requiredString("instrument", maxLength: 60)
                _ = try inner.requiredString("subject", maxLength: 60)
                _ = try inner.code("measure", in: Codes.measures, required: true)
                _ = try inner.number("target_gain", range: -1000...1000)
                reader.set("outcome", .object(inner.output.dictionary))
            }
        case "enrolment":
            urn = try reader.urn("school_urn")
            _ = try reader.requiredString("provision_id", maxLength: 80)
            _ = try reader.upn("upn")
            let start = try reader.date("start_date", required: true)
            let end = try reader.date("end_date")
            if let start, let end, end < start { throw RecordProblem("enrolment.end_date is before start_date") }
            _ = try reader.code("status", in: Codes.enrolmentStatuses)
            _ = try reader.string("target", maxLength: 500, lines: true)
            for point in ["entry", "exit"] {
                guard let members = try reader.object(point) else { continue }
                var inner = reader.nested(point, members)
                _ = try inner.number("value", required: true, range: -1000...100_000)
                _ = try inner.date("date")
                reader.set(point, .object(inner.output.dictionary))
            }
            if let entryDate = reader.output["entry"]?.objectValue?["date"]?.stringValue,
                let exitDate = reader.output["exit"]?.objectValue?["date"]?.stringValue, exitDate < entryDate
            {
                throw RecordProblem("enrolment.exit.date is before entry.date")
            }
            _ = try reader.date("parent_informed")
        case "plan":
            urn = try reader.urn("school_urn")
            _ = try reader.requiredString("plan_ref", maxLength: 80)
            _ = try reader.code("kind", in: ["sen_support", "ehcp"], required: true)
            warning = try reader.upn("upn").warning
            for text in ["strengths", "needs", "strategies", "people"] { _ = try reader.string(text, maxLength: 5000, lines: true) }
            _ = try reader.date("next_review", required: true)
            _ = try reader.date("written_on")
            _ = try reader.stringArray("provision_ids")
            guard let targets = try reader.array("targets"), (1...30).contains(targets.count) else {
                throw RecordProblem("plan.targets must be an array of 1 to 30 targets")
            }
            var valid: [JSONValue] = []
            for (index, element) in targets.enumerated() {
                guard case .object(let members) = element else { throw RecordProblem("plan.targets[\(index + 1)] must be an object") }
                var inner = FieldReader(type: "plan.targets[\(index + 1)]", fields: members)
                _ = try inner.requiredString("description", maxLength: 1000, lines: true)
                _ = try inner.date("by", required: true)
                _ = try inner.string("measured_by", maxLength: 500, lines: true)
                let instrument = try inner.string("instrument", maxLength: 60)
                _ = try inner.string("subject", maxLength: 60)
                let measure = try inner.code("measure", in: Codes.measures)
                let value = try inner.number("target_value", range: -1000...100_000)
                guard (instrument == nil) == (measure == nil), (measure == nil) == (value == nil) else {
                    throw RecordProblem("plan.targets[\(index + 1)]: a linked test needs instrument, measure and target_value together")
                }
                if instrument != nil && members["subject"] == nil { inner.set("subject", .string("reading")) }
                valid.append(.object(inner.output.dictionary))
            }
            reader.set("targets", .array(valid))
        default:
            throw RecordProblem("unknown record type '\(type.prefix(40))'")
        }
        if let warning { reader.set("upn_warning", .string(warning)) }
        return ValidRecord(type: type, schoolURN: urn, fields: reader.output, warning: warning)
    }

    /// Why `record` is dated after `latest` (YYYY-MM-DD) where it cannot be: a pupil not yet
    /// born (a mistyped year, which would make every age the growth model reckons negative),
    /// a result not yet taken, an entry or exit score not yet measured. Nil when it is not.
    /// Plans, provisions, enrolments, admissions and leaving dates may lie ahead.
    static func futureDate(in record: ValidRecord, latest: String) -> RecordProblem? {
        switch record.type {
        case "pupil":
            // A date of birth is personal data: the message does not repeat it.
            if let dob = record.pupil?.dob, dob > latest { return RecordProblem("pupil.dob is in the future") }
        case "assessment":
            if let date = record.result?.date, date > latest {
                return RecordProblem("assessment.date \(date) is in the future: a result is dated on the day it was taken")
            }
        case "enrolment":
            for point in ["entry", "exit"] {
                if let date = record.fields[point]?.objectValue?["date"]?.stringValue, date > latest {
                    return RecordProblem("enrolment.\(point).date \(date) is in the future: a score is dated on the day it was measured")
                }
            }
        default:
            break
        }
        return nil
    }

    private static func validateNeeds(_ needs: [JSONValue]) throws(RecordProblem) -> [PupilFields.Need] {
        var seen: Set<String> = []
        var result: [PupilFields.Need] = []
        for (index, element) in needs.enumerated() {
            guard case .object(let members) = element else {
                throw RecordProblem("pupil.needs[\(index + 1)] must be an object {code, rank}")
            }
            var inner = FieldReader(type: "pupil.needs[\(index + 1)]", fields: members)
            guard let code = try inner.code("code", in: Codes.needTypes, required: true) else { continue }
            let rank = try inner.integer("rank", range: 1...20) ?? index + 1
            guard seen.insert(code).inserted else {
                throw RecordProblem("pupil.needs lists \(code) twice")
            }
            result.append(PupilFields.Need(code: code, rank: rank))
        }
        return result
    }
}
