import ProvisionModel

/// How an import hashes records and stored rows to compare them (``StoredRecords``): SipHash
/// under a key of the run's, so the hashes one run remembers of its lines
/// (``RememberedLines``) can be compared with the rows the next run lists. A run without
/// remembered lines draws a fresh key. Key and content hashes have their lowest bit clear,
/// for the list of stored rows and the remembered lines to mark things with.
struct RecordHashing: Sendable {
    /// The SipHash key.
    let secret: (UInt64, UInt64)

    /// The hash of a pupil's needs when they have none: as a record listing none hashes them.
    let noNeeds: Int

    init(secret: (UInt64, UInt64)) {
        self.secret = secret
        var hasher = KeyedHasher(key: secret)
        Self.add("", to: &hasher)
        noNeeds = hasher.finalize()
    }

    /// Hashing under a key from the system's random source.
    static func fresh() -> RecordHashing {
        var generator = SystemRandomNumberGenerator()
        return RecordHashing(secret: (generator.next(), generator.next()))
    }

    /// The digest of a result or pupil record, nil for other types. Needs no state but
    /// `today` (``StoredRecords/today``), so a reader computes it on another core, ahead of
    /// ``StoredRecords/skips(_:_:)``.
    func digest(_ record: ValidRecord, today: String) -> StoredRecords.Digest? {
        // The content hash goes on from the key's: the key's values are hashed once.
        guard var hasher = keyHasher(record) else { return nil }
        let key = hasher.finalized & ~1
        var needs: Int?
        switch record.type {
        case "assessment":
            Self.add(record.result?.valueText, to: &hasher)
            Self.add(record.schoolURN, to: &hasher)
        case "pupil":
            // As staged, then as the upsert writes them: no SEN provision is `N`, and the
            // pupil is on roll unless the leaving date has passed.
            guard let pupil = record.pupil else { return nil }
            Self.add(record.schoolURN, to: &hasher)
            pupil.forEachStoredValue { Self.add($0, to: &hasher) }
            Self.add(pupil.isOnRoll(today: today) ? "t" : "f", to: &hasher)
            if let listed = pupil.needs {
                var text = listed.map { "\($0.code):\($0.rank)" }.sorted().joined(separator: ",")
                needs = text.withUTF8 { needsHash($0) }
            }
        default:
            return nil
        }
        return StoredRecords.Digest(key: key, content: hasher.finalize() & ~1, needs: needs)
    }

    /// The hash of a result or pupil record's natural key (as ``Digest/key``), nil for
    /// other types. Records whose keys the merge takes for equal hash equally: the key's
    /// values are staged as the validator wrote them (a date always as YYYY-MM-DD).
    func key(_ record: ValidRecord) -> Int? {
        keyHasher(record).map { $0.finalize() & ~1 }
    }

    /// A hasher that has taken a result or pupil record's kind and natural key.
    private func keyHasher(_ record: ValidRecord) -> KeyedHasher? {
        var hasher = KeyedHasher(key: secret)
        switch record.type {
        case "assessment":
            // In the order of the columns COPY reads.
            let result = record.result
            hasher.combine(Self.resultKind)
            Self.add(result?.upn, to: &hasher)
            Self.add(result?.instrument, to: &hasher)
            Self.add(result?.subject, to: &hasher)
            Self.add(result?.measure, to: &hasher)
            Self.add(result?.date, to: &hasher)
        case "pupil":
            hasher.combine(Self.pupilKind)
            Self.add(record.pupil?.upn, to: &hasher)
        default:
            return nil
        }
        return hasher
    }

    /// The hash of a pupil's needs written as their `code:rank` pairs in order, joined by
    /// commas: as a record lists them, or as the stored ones are read.
    func needsHash(_ text: UnsafeBufferPointer<UInt8>) -> Int {
        var hasher = KeyedHasher(key: secret)
        Self.add(text, to: &hasher)
        return hasher.finalize()
    }

    /// A row read by COPY, hashed: a result (7 columns) or a pupil (18, the last its id).
    /// Values are hashed as COPY writes them: a value it escapes (a tab, a backslash) then
    /// differs from its record, which is only staged as before. A row of another width is
    /// left out (its record is staged).
    func hashRow(_ line: UnsafeBufferPointer<UInt8>, columns: Int) -> (key: Int, content: Int, id: Int64?)? {
        let isResult = columns == 7
        let keyColumns = isResult ? 5 : 1
        let contentColumns = isResult ? 7 : 17
        var hasher = KeyedHasher(key: secret)
        hasher.combine(isResult ? Self.resultKind : Self.pupilKind)
        var key = 0
        var id: Int64?
        var column = 0
        var start = 0
        // Each value is hashed as its tab is reached: no array of fields per row.
        for index in 0...line.count where index == line.count || line[index] == 0x09 {
            let raw = UnsafeBufferPointer(rebasing: line[start..<index])
            let field = raw.count == 2 && raw[0] == 0x5C && raw[1] == 0x4E ? nil : raw
            start = index + 1
            if column < contentColumns {
                Self.add(field, to: &hasher)
                if column == keyColumns - 1 { key = hasher.finalized & ~1 }
            } else if column == 17 {
                id = field.flatMap(StoredRecords.id)
            }
            column += 1
        }
        guard column == columns else { return nil }
        return (key, hasher.finalize() & ~1, id)
    }

    private static let resultKind: UInt8 = 1
    private static let pupilKind: UInt8 = 2

    /// Hashes one value as its length and its UTF-8 bytes, or NULL as -1: records are hashed
    /// from their strings, stored rows from COPY's bytes, by the same calls.
    private static func add(_ value: UnsafeBufferPointer<UInt8>?, to hasher: inout KeyedHasher) {
        guard let value else {
            hasher.combine(-1)
            return
        }
        hasher.combine(value.count)
        hasher.combine(bytes: UnsafeRawBufferPointer(value))
    }

    private static func add(_ value: String?, to hasher: inout KeyedHasher) {
        guard var text = value else {
            hasher.combine(-1)
            return
        }
        text.withUTF8 { Self.add($0, to: &hasher) }
    }
}
