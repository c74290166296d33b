import ProvisionModel

/// A breach of the protocol that fails the whole run: nothing from it is written.
public struct ProtocolViolation: Error, Sendable, CustomStringConvertible, Equatable {
    /// The NDJSON line it is about, when there is one.
    public let line: Int?
    /// What is wrong, with control characters escaped.
    public let message: String

    /// A violation at `line` (nil for the stream as a whole).
    public init(line: Int?, _ message: String) {
        self.line = line
        self.message = EscapedText.escaped(message)
    }

    public var description: String {
        line.map { "line \($0): \(message)" } ?? message
    }
}

/// One record that was not imported (or was imported with a data-quality warning).
public struct Rejection: Sendable, Equatable {
    /// Whether the record was left out or imported with a warning.
    public enum Severity: String, Sendable { case rejected, warning }
    /// The NDJSON line of the record.
    public let line: Int
    /// The record's type, when it could be read.
    public let type: String?
    /// Left out, or imported with a warning.
    public let severity: Severity
    /// Why, in words for IT staff; never a field's value.
    public let reason: String
    /// Where in the plugin's source the record came from (file, line, element), as the plugin said.
    public let ref: String?
    /// For a rejected pupil record: who it was about, as far as can be told, so a snapshot
    /// never marks that pupil as left because their record was rejected.
    public var pupil: RejectedPupil? = nil
}

/// The identity of a rejected pupil record. A nil `upn` means the record named no usable
/// UPN, so no pupil of its school (nil: of any bound school) may be marked left by the run.
public struct RejectedPupil: Sendable, Equatable {
    /// The school the rejected pupil record named.
    public let schoolURN: String?
    /// The UPN the rejected pupil record carried, when it was well-formed.
    public let upn: String?
}

/// What one line of plugin output turned out to be.
public enum LineResult: Sendable {
    case header
    case accepted(ValidRecord)
    case rejected(Rejection)
    case end
    /// A blank line.
    case ignored
}

/// Validates a plugin's NDJSON output one line at a time, holding only counters, so a run
/// of any size is checked in constant memory.
///
/// It never trusts the plugin: `header` must come first and name the plugin, every record
/// is checked against DESIGN §4, records for schools the source is not bound to are
/// rejected, and `end` must come last with counts equal to what was actually sent.
public struct RecordStreamValidator: Sendable {
    enum State: Sendable { case expectingHeader, records, ended }

    /// The plugin whose output this is; its header must name it.
    public let pluginName: String
    /// The URNs records may be for; nil accepts any well-formed URN (`plugin check` without `--school`).
    public let boundSchools: Set<String>?
    /// Longest line accepted; longer lines fail the run rather than grow memory.
    public static let maxLineBytes = 1 << 20
    /// The largest count an `end` record may claim (far beyond any real run).
    static let maxCount = 1e12

    private var state = State.expectingHeader
    /// `snapshot` or `delta`, once the header is read.
    public private(set) var sourceKind = "snapshot"
    /// Records sent, by type, as the `end` counts must report them.
    public var sent: [String: Int] { sentCounts.byType }
    /// Records accepted, by type.
    public var accepted: [String: Int] { acceptedCounts.byType }
    private var sentCounts = TypeCounts()
    private var acceptedCounts = TypeCounts()
    /// Records rejected so far.
    public private(set) var rejectedCount = 0
    /// Records rejected, by type (data types only: `error` records have no type of their own).
    public private(set) var rejectedByType: [String: Int] = [:]
    /// Records accepted with a warning so far.
    public private(set) var warningCount = 0

    /// The latest date a date of birth, a result or an entry or exit score may carry, as
    /// YYYY-MM-DD: the day after the run's `today`, so an export dated by a clock an hour
    /// ahead (England's summer time against a server on UTC) still reads. Nil checks none.
    public let latestDate: String?

    /// A validator for `pluginName`'s output; records of schools outside `boundSchools` (when
    /// given) are rejected, and so are births and results dated after `today` (when given)
    /// by more than a day.
    public init(pluginName: String, boundSchools: Set<String>?, today: SchoolDate?) {
        self.pluginName = pluginName
        self.boundSchools = boundSchools
        self.latestDate = today.map { SchoolDate(daysSince1970: $0.daysSince1970 + 1).iso }
    }

    /// Records sent other than header and end.
    public var recordCount: Int { sentCounts.total }

    /// Share of sent records that were rejected (0 when none were sent).
    public var rejectedShare: Double {
        recordCount == 0 ? 0 : Double(rejectedCount) / Double(recordCount)
    }

    /// Whether the run contains records of `type` (snapshot semantics apply per type).
    public func contains(_ type: String) -> Bool { acceptedCounts[type] > 0 }

    /// Checks one line (without its newline).
    public mutating func consume(_ line: some Collection<UInt8>, number: Int) throws(ProtocolViolation) -> LineResult {
        try consume(Self.prepare(line), number: number)
    }

    /// A line parsed and, when it is a record of a known data type, validated: the part of
    /// the checks that needs no state, so a reader can run it for the next lines on another
    /// core while `consume(_:number:)` takes the prepared lines before them, in order.
    public struct PreparedLine: Sendable {
        fileprivate enum Content: Sendable {
            case blank
            case tooLong
            case notJSON(JSONValue.InvalidJSON)
            case parsed(JSONValue.TopLevel, validated: Result<ValidRecord, RecordProblem>?)
            /// A valid result or pupil read without parsing (``PlainResultLine``, ``PlainPupilLine``).
            case plain(ValidRecord)
        }
        fileprivate let content: Content

        /// Whether the line was read as a plain result or pupil, without a JSON tree.
        var readPlain: Bool {
            if case .plain = content { return true }
            return false
        }

        /// The record, when the line is one of a known data type that passed its type's rules
        /// (the school's binding is checked when the line is taken).
        public var record: ValidRecord? {
            switch content {
            case .parsed(_, .success(let record)), .plain(let record): return record
            default: return nil
            }
        }
    }

    /// Parses `line` and validates it if it is a data record (see ``PreparedLine``).
    /// `plainLines` false parses every line, for tests to compare with.
    public static func prepare(_ line: some Collection<UInt8>, plainLines: Bool = true) -> PreparedLine {
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return PreparedLine(content: .blank) }
        guard line.count <= maxLineBytes else { return PreparedLine(content: .tooLong) }
        let read = line.withContiguousStorageIfAvailable { bytes -> PreparedLine in
            if plainLines, let record = PlainResultLine.read(bytes) ?? PlainPupilLine.read(bytes) {
                return PreparedLine(content: .plain(record))
            }
            return prepare(parsing: Result { () throws(JSONValue.InvalidJSON) in try JSONValue.parseTopLevel(bytes) })
        }
        return read ?? prepare(parsing: Result { () throws(JSONValue.InvalidJSON) in try JSONValue.parseTopLevel(line) })
    }

    private static func prepare(parsing: Result<JSONValue.TopLevel, JSONValue.InvalidJSON>) -> PreparedLine {
        let parsed: JSONValue.TopLevel
        switch parsing {
        case .success(let value): parsed = value
        case .failure(let invalid): return PreparedLine(content: .notJSON(invalid))
        }
        guard case .members(let fields) = parsed, let type = fields["type"]?.stringValue, RecordRules.dataTypes.contains(type) else {
            return PreparedLine(content: .parsed(parsed, validated: nil))
        }
        let validated = Result { () throws(RecordProblem) -> ValidRecord in try RecordRules.validate(type: type, fields: fields) }
        return PreparedLine(content: .parsed(parsed, validated: validated))
    }

    /// Takes a prepared line, in order: the protocol's state, counts and bounds.
    public mutating func consume(_ line: PreparedLine, number: Int) throws(ProtocolViolation) -> LineResult {
        let parsed: JSONValue.TopLevel
        let validated: Result<ValidRecord, RecordProblem>?
        switch line.content {
        case .blank:
            return .ignored
        case .tooLong:
            throw ProtocolViolation(line: number, "line is longer than \(Self.maxLineBytes) bytes")
        case .notJSON(let invalid):
            throw ProtocolViolation(line: number, "not valid JSON: \(invalid)")
        case .parsed(let value, let result):
            (parsed, validated) = (value, result)
        case .plain(let record):
            switch state {
            case .ended: throw ProtocolViolation(line: number, "output continues after the end record")
            case .expectingHeader: throw ProtocolViolation(line: number, "the first line must be a header record, got type '\(record.type)'")
            case .records: break
            }
            sentCounts.add(record.type)
            do throws(RecordProblem) {
                return try take(record, line: number, ref: nil)
            } catch {
                return reject(line: number, type: record.type, error, fields: record.fields)
            }
        }
        if state == .ended {
            throw ProtocolViolation(line: number, "output continues after the end record")
        }
        let fields: JSONMembers
        switch parsed {
        case .members(let members): fields = members
        case .other(let value):
            if state == .expectingHeader {
                throw ProtocolViolation(line: number, "the first line must be a header record")
            }
            return reject(line: number, type: nil, "a record must be a JSON object, got \(value.kind)", ref: nil)
        }
        let type = fields["type"]?.stringValue
        if state == .expectingHeader {
            guard type == "header" else {
                throw ProtocolViolation(
                line: number, "the first line must be a header record, got type '\(EscapedText.escaped(type?.prefix(40) ?? "none"))'")
            }
            try readHeader(fields, line: number)
            state = .records
            return .header
        }
        guard let type else {
            return reject(line: number, type: nil, "record has no \"type\" string", ref: nil)
        }
        switch type {
        case "header":
            throw ProtocolViolation(line: number, "a second header record")
        case "end":
            try checkEnd(fields, line: number)
            state = .ended
            return .end
        case "error":
            sentCounts.add("error")
            let message = fields["message"]?.stringValue ?? "no message"
            return reject(
                line: number, type: "error", "the plugin could not read a record: \(EscapedText.escaped(message.prefix(300)))",
                ref: Self.ref(fields))
        default:
            // Type names become keys of the run's counts: escaped like every other plugin text
            // (the known ones need none; escaping every record's type was one in twenty of the
            // supervisor's samples).
            let type = RecordRules.dataTypes.contains(type) ? type : EscapedText.escaped(type.prefix(40))
            sentCounts.add(type)
            do throws(RecordProblem) {
                // Known types were validated when the line was prepared.
                let record = try (validated ?? Result { () throws(RecordProblem) -> ValidRecord in
                    try RecordRules.validate(type: type, fields: fields)
                }).get()
                return try take(record, line: number, ref: Self.ref(fields))
            } catch {
                return reject(line: number, type: type, error, fields: fields)
            }
        }
    }

    /// Takes a valid record sent (and counted) at `line`: rejected when its school is not
    /// bound to the source, thrown when it is dated in the future, else accepted.
    private mutating func take(_ record: ValidRecord, line: Int, ref: @autoclosure () -> String?) throws(RecordProblem) -> LineResult {
        if let boundSchools, !boundSchools.contains(record.schoolURN) {
            return reject(
                line: line, type: record.type,
                "\(record.type) is for school \(record.schoolURN), which this source is not bound to", ref: ref())
        }
        if let latestDate, let problem = RecordRules.futureDate(in: record, latest: latestDate) { throw problem }
        acceptedCounts.add(record.type)
        if record.warning != nil { warningCount += 1 }
        return .accepted(record)
    }

    /// Whether the next line may be a record: the header has been read and the end has not.
    var takesRecords: Bool { state == .records }

    /// Counts a line of `type` taken as accepted without being read again: a line this
    /// source sent and had accepted before, byte for byte (``takesRecords`` must hold).
    mutating func countRemembered(_ type: String) {
        sentCounts.add(type)
        acceptedCounts.add(type)
    }

    /// Checks that the output ended properly; call after the last line.
    public func finish() throws(ProtocolViolation) {
        switch state {
        case .expectingHeader: throw ProtocolViolation(line: nil, "no output: a header record was expected")
        case .records: throw ProtocolViolation(line: nil, "output ended without an end record (the plugin stopped early?)")
        case .ended: return
        }
    }

    /// Who a rejected pupil record was about: its UPN when it has the right shape, and its
    /// school when that is one the source is bound to.
    static func identity(of fields: JSONMembers, bound: Set<String>?) -> RejectedPupil {
        let urn = fields["school_urn"]?.stringValue?.trimmedWhitespace
        let school = urn.flatMap { urn in
            (bound?.contains(urn) ?? (urn.utf8.count == 6 && urn.utf8.allSatisfy { (48...57).contains($0) })) ? urn : nil
        }
        let upn = fields["upn"]?.stringValue?.trimmedWhitespace.uppercased()
        return RejectedPupil(schoolURN: school, upn: upn.flatMap { UPN.shapeProblem($0) == nil ? $0 : nil })
    }

    /// Rejects a record of a data type for `problem`; a pupil's rejection says who it was
    /// about, as far as `fields` tell.
    private mutating func reject(line: Int, type: String, _ problem: RecordProblem, fields: JSONMembers) -> LineResult {
        var rejection = Rejection(line: line, type: type, severity: .rejected, reason: problem.message, ref: Self.ref(fields))
        if type == "pupil" { rejection.pupil = Self.identity(of: fields, bound: boundSchools) }
        return reject(rejection)
    }

    private mutating func reject(line: Int, type: String?, _ reason: String, ref: String?) -> LineResult {
        reject(Rejection(line: line, type: type, severity: .rejected, reason: reason, ref: ref))
    }

    private mutating func reject(_ rejection: Rejection) -> LineResult {
        rejectedCount += 1
        if let type = rejection.type, RecordRules.dataTypes.contains(type) { rejectedByType[type, default: 0] += 1 }
        return .rejected(rejection)
    }

    private static func ref(_ fields: JSONMembers) -> String? {
        guard let ref = fields["ref"] else { return nil }
        switch ref {
        case .string(let text): return EscapedText.escaped(text.prefix(300))
        case .null: return nil
        default: return EscapedText.escaped(ref.serialized.prefix(300))
        }
    }

    private mutating func readHeader(_ fields: JSONMembers, line: Int) throws(ProtocolViolation) {
        guard case .number(let version) = fields["protocol"] ?? .null else {
            throw ProtocolViolation(line: line, "header.protocol must be the number 1")
        }
        guard version == 1 else {
            throw ProtocolViolation(line: line, "header.protocol is \(FieldReader.format(version)); this supervisor speaks protocol 1")
        }
        guard let plugin = fields["plugin"]?.stringValue else {
            throw ProtocolViolation(line: line, "header.plugin is required")
        }
        guard plugin == pluginName else {
            throw ProtocolViolation(
                line: line, "header.plugin is '\(EscapedText.escaped(plugin.prefix(60)))' but the manifest names '\(pluginName)'")
        }
        if let kind = fields["source_kind"], kind != .null {
            guard let text = kind.stringValue, Codes.sourceKinds.contains(text) else {
                throw ProtocolViolation(line: line, "header.source_kind must be 'snapshot' or 'delta'")
            }
            sourceKind = text
        }
    }

    private func checkEnd(_ fields: JSONMembers, line: Int) throws(ProtocolViolation) {
        guard case .object(let counts) = fields["counts"] ?? .null else {
            throw ProtocolViolation(line: line, "end.counts must be an object of {type: number}")
        }
        var claimed: [String: Int] = [:]
        for (type, value) in counts {
            let type = EscapedText.escaped(type.prefix(40))
            // Range-checked before conversion: Int(1e300) would trap and take the supervisor down.
            guard case .number(let number) = value, number.isFinite, number >= 0, number <= Self.maxCount,
                number.rounded() == number
            else {
                throw ProtocolViolation(line: line, "end.counts.\(type) must be a whole number from 0 to \(Int(Self.maxCount))")
            }
            if number > 0 { claimed[type] = Int(number) }
        }
        let actual = sent.filter { $0.value > 0 }
        guard claimed == actual else {
            let types = Set(claimed.keys).union(actual.keys).sorted()
            let differences = types.filter { claimed[$0] != actual[$0] }.map {
                "\($0): end says \(claimed[$0] ?? 0), sent \(actual[$0] ?? 0)"
            }
            throw ProtocolViolation(line: line, "end.counts do not match what was sent (\(differences.joined(separator: "; ")))")
        }
    }
}

/// Records counted by type, results and pupils each in a field of their own: counted in a
/// dictionary, every line hashed its type twice.
private struct TypeCounts: Sendable {
    private var results = 0
    private var pupils = 0
    private var others: [String: Int] = [:]

    mutating func add(_ type: String) {
        switch type {
        case "assessment": results += 1
        case "pupil": pupils += 1
        default: others[type, default: 0] += 1
        }
    }

    subscript(type: String) -> Int {
        switch type {
        case "assessment": results
        case "pupil": pupils
        default: others[type, default: 0]
        }
    }

    var total: Int { results + pupils + others.values.reduce(0, +) }

    /// The counts by type; a type never counted is absent.
    var byType: [String: Int] {
        var counts = others
        if results > 0 { counts["assessment"] = results }
        if pupils > 0 { counts["pupil"] = pupils }
        return counts
    }
}
