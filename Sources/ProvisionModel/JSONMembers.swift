/// The members of one JSON object in the order they were written, found by scanning.
///
/// For the import's records: a record has about a dozen members, and putting each into a
/// dictionary and finding it there again (hashing its key both times) was a fifth of the
/// supervisor's time reading a large run. Comparing a dozen short keys is cheaper. Text with
/// a key written twice is refused when it is parsed; a key ``set(_:_:)`` twice means its
/// last value, as in a dictionary.
public struct JSONMembers: Sendable, Equatable {
    private var members: [(key: String, value: JSONValue)]

    /// The members of `dictionary` (in no particular order).
    public init(_ dictionary: [String: JSONValue]) {
        members = dictionary.map { ($0.key, $0.value) }
    }

    init(ordered members: [(key: String, value: JSONValue)]) {
        self.members = members
    }

    /// No members, with room for `capacity`.
    public init(capacity: Int) {
        members = []
        members.reserveCapacity(capacity)
    }

    /// Gives `key` the value `value`, as assigning it in a dictionary would.
    public mutating func set(_ key: String, _ value: JSONValue) {
        members.append((key, value))
    }

    /// The value of `key`: the last one set when it was set twice.
    public subscript(key: String) -> JSONValue? {
        // Most keys scanned past differ in length, which a short string answers from its own
        // bits; comparing them as strings took the slower path for every one.
        let length = key.utf8.count
        return members.withUnsafeBufferPointer { members in
            // By index, so a member is not copied (nor its value retained) to compare its key.
            var index = members.count
            while index > 0 {
                index -= 1
                if members[index].key.utf8.count == length && members[index].key == key { return members[index].value }
            }
            return nil
        }
    }

    /// How many members were set, counting a key set twice each time.
    public var count: Int { members.count }

    /// The members as a dictionary (a repeated key keeps its last value).
    public var dictionary: [String: JSONValue] {
        Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
    }

    public static func == (lhs: JSONMembers, rhs: JSONMembers) -> Bool { lhs.dictionary == rhs.dictionary }
}

extension JSONValue {
    /// One JSON text as it is expected at the top of a record: an object's members, or
    /// whatever other value the text holds.
    public enum TopLevel: Sendable {
        case members(JSONMembers)
        case other(JSONValue)
    }

    /// Parses one JSON text like ``parse(_:)``, keeping a top-level object's members as
    /// ``JSONMembers`` (nested objects are dictionaries as usual).
    public static func parseTopLevel(_ bytes: some Collection<UInt8>) throws(InvalidJSON) -> TopLevel {
        try parsing(bytes, JSONParser.parseTopLevel)
    }

    /// ``parseTopLevel(_:)`` of bytes already in contiguous memory. Not generic: called from
    /// another module for every line of an import, the generic form looked up its types'
    /// metadata at run time on each call (2% of `provisionctl plugin check`'s time).
    public static func parseTopLevel(_ bytes: UnsafeBufferPointer<UInt8>) throws(InvalidJSON) -> TopLevel {
        do {
            return try JSONParser.parseTopLevel(bytes)
        } catch {
            throw InvalidJSON(error)
        }
    }
}
