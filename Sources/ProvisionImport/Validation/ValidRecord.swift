import ProvisionModel

/// A record that passed validation, in canonical form, ready to stage.
///
/// The bulk of every large import, results and pupils, carry their fields typed
/// (``ResultFields``, ``PupilFields``): three in four lines are results and nearly all the
/// rest pupils, and reading their fields from a list of JSON members by name, at every step
/// from validation to COPY, was a third of the supervisor's time. Records of other types
/// keep their members.
public struct ValidRecord: Sendable {
    private enum Content: Sendable {
        case members(JSONMembers)
        case result(ResultFields)
        case pupil(PupilFields)
    }

    /// The record's type.
    public let type: String
    /// The school it belongs to.
    public let schoolURN: String
    /// A data-quality warning that does not stop the record (a UPN check letter, say).
    public let warning: String?
    private let content: Content

    init(type: String, schoolURN: String, fields: JSONMembers, warning: String?) {
        (self.type, self.schoolURN, self.warning, content) = (type, schoolURN, warning, .members(fields))
    }

    init(schoolURN: String, result: ResultFields, warning: String?) {
        (type, self.schoolURN, self.warning, content) = ("assessment", schoolURN, warning, .result(result))
    }

    init(schoolURN: String, pupil: PupilFields) {
        (type, self.schoolURN, warning, content) = ("pupil", schoolURN, pupil.values[PupilFields.upnWarning], .pupil(pupil))
    }

    /// A result's fields (every `assessment` record); nil for other types.
    public var result: ResultFields? {
        guard case .result(let result) = content else { return nil }
        return result
    }

    /// A pupil's fields (every `pupil` record); nil for other types.
    public var pupil: PupilFields? {
        guard case .pupil(let pupil) = content else { return nil }
        return pupil
    }

    /// The known, normalised fields (unknown fields dropped). A result's and a pupil's are
    /// made on demand: the pipeline reads them typed.
    public var fields: JSONMembers {
        switch content {
        case .members(let members):
            return members
        case .result(let result):
            var fields = JSONMembers(capacity: 8)
            fields.set("school_urn", .string(schoolURN))
            fields.set("upn", .string(result.upn))
            fields.set("instrument", .string(result.instrument))
            fields.set("subject", .string(result.subject))
            fields.set("measure", .string(result.measure))
            fields.set("value", .number(result.value))
            fields.set("date", .string(result.date))
            if let warning { fields.set("upn_warning", .string(warning)) }
            return fields
        case .pupil(let pupil):
            var fields = JSONMembers(capacity: 18)
            fields.set("school_urn", .string(schoolURN))
            fields.set("upn", .string(pupil.upn))
            for (column, value) in zip(PupilFields.columns, pupil.values) {
                guard let value else { continue }
                fields.set(column, PupilFields.flags.contains(column) ? .bool(value == "t") : .string(value))
            }
            if let needs = pupil.needsValue { fields.set("needs", needs) }
            return fields
        }
    }

    /// Canonical JSON of ``fields``; made on demand, since the bulk types are staged as
    /// typed columns instead.
    public var document: String { JSONValue.object(fields.dictionary).serialized }
}

/// The fields of a valid result (an `assessment` record), as the validator wrote them. A
/// class: a line's record is handed from step to step, and copying the fields inline each
/// time was a twentieth of the supervisor's time.
public final class ResultFields: Sendable, Equatable {
    /// Upper case, well-formed (its check letter may not match).
    public let upn: String
    /// The test, as the MIS names it (`Salford`, `NGRT`).
    public let instrument: String
    /// What it tests (`reading`, `spelling`).
    public let subject: String
    /// One of ``Codes/measures``.
    public let measure: String
    /// The score, in the measure's units.
    public let value: Double
    /// The value as JSON writes it (``JSONValue/numberText(_:)``), as it is hashed and staged.
    public let valueText: String
    /// YYYY-MM-DD.
    public let date: String

    /// `valueText` must be `value` as JSON writes it; by default it is made from it.
    init(upn: String, instrument: String, subject: String, measure: String, value: Double, valueText: String? = nil, date: String) {
        (self.upn, self.instrument, self.subject, self.measure, self.value, self.date) = (upn, instrument, subject, measure, value, date)
        self.valueText = valueText ?? JSONValue.numberText(value)
    }

    public static func == (lhs: ResultFields, rhs: ResultFields) -> Bool {
        (lhs.upn, lhs.instrument, lhs.subject, lhs.measure, lhs.date) == (rhs.upn, rhs.instrument, rhs.subject, rhs.measure, rhs.date)
            && (lhs.value, lhs.valueText) == (rhs.value, rhs.valueText)
    }
}

/// The fields of a valid pupil record, as the validator wrote them (a class, as
/// ``ResultFields`` is).
public final class PupilFields: Sendable, Equatable {
    /// One of the pupil's needs, with its rank (1 the primary need).
    public struct Need: Sendable, Equatable {
        /// One of ``Codes/needTypes``.
        public let code: String
        /// From 1 to 20.
        public let rank: Int
    }

    /// The pupil fields staged in the columns of the same names, in the staging table's order.
    public static let columns = [
        "surname", "forename", "dob", "gender", "year_group", "admission_date", "leaving_date", "sen_provision",
        "sen_start_date", "fsm", "pupil_premium", "eal", "looked_after", "upn_warning",
    ]
    /// The columns that are true or false.
    static let flags: Set<String> = ["fsm", "pupil_premium", "eal", "looked_after"]
    /// The columns that are dates, YYYY-MM-DD.
    static let dates: Set<String> = ["dob", "admission_date", "leaving_date", "sen_start_date"]
    static let dob = 2
    static let leavingDate = 6
    static let senProvision = 7
    static let upnWarning = 13

    /// Upper case, well-formed (its check letter may not match: ``upnWarning``).
    public let upn: String
    /// The values of ``columns``, in order: text as it is, flags as `t` or `f`, nil when
    /// absent.
    public let values: [String?]
    /// The needs listed, nil when the record had no list (an empty list says "none").
    public let needs: [Need]?

    init(upn: String, values: [String?], needs: [Need]?) {
        (self.upn, self.values, self.needs) = (upn, values, needs)
    }

    /// The date of birth, YYYY-MM-DD.
    public var dob: String { values[Self.dob] ?? "" }
    /// The leaving date, YYYY-MM-DD, when there is one.
    public var leavingDate: String? { values[Self.leavingDate] }

    /// ``values`` as the upsert stores them, in order: no SEN provision is `N`.
    func forEachStoredValue(_ body: (String?) -> Void) {
        for (column, value) in values.enumerated() { body(column == Self.senProvision ? value ?? "N" : value) }
    }

    /// Whether the upsert stores the pupil as on roll on `today` (YYYY-MM-DD): unless their
    /// leaving date has passed.
    func isOnRoll(today: String) -> Bool { leavingDate.map { $0 > today } ?? true }

    /// The needs as JSON, as the record's `needs` member is stored.
    public var needsValue: JSONValue? {
        needs.map { needs in .array(needs.map { .object(["code": .string($0.code), "rank": .number(Double($0.rank))]) }) }
    }

    public static func == (lhs: PupilFields, rhs: PupilFields) -> Bool {
        (lhs.upn, lhs.values, lhs.needs) == (rhs.upn, rhs.values, rhs.needs)
    }
}
