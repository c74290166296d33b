/// The header row of a CSV file: finds columns by name, ignoring case and surrounding spaces.
public struct CSVHeader: Sendable {
    /// The column names as the file has them.
    public let names: [String]
    private let index: [String: Int]

    /// Indexes `names`; when a name repeats, the first column with it wins.
    public init(_ names: [String]) {
        self.names = names
        var index: [String: Int] = [:]
        for (position, name) in names.enumerated() {
            let key = Self.key(name)
            if index[key] == nil { index[key] = position }
        }
        self.index = index
    }

    static func key(_ name: String) -> String { name.trimmedWhitespace.lowercased() }

    /// The position of `name`, or nil when the file has no such column.
    public func position(of name: String) -> Int? { index[Self.key(name)] }

    /// The named columns that are missing, for one clear error listing them all.
    public func missing(_ required: [String]) -> [String] {
        required.filter { position(of: $0) == nil }
    }
}

/// One data row with its header, for reading fields by column name.
public struct CSVRecord {
    /// The file's header, to find fields by column name.
    public let header: CSVHeader
    /// The row's fields, in column order.
    public let fields: [String]
    /// The row's line in the file (1-based), for messages that say where.
    public let line: Int

    /// A row read from a file.
    public init(header: CSVHeader, fields: [String], line: Int) {
        self.header = header
        self.fields = fields
        self.line = line
    }

    /// The trimmed value of `column`; nil when the column is absent or the cell is empty.
    public subscript(_ column: String?) -> String? {
        guard let column, let position = header.position(of: column), position < fields.count else { return nil }
        let value = fields[position].trimmedWhitespace
        return value.isEmpty ? nil : value
    }
}

import ProvisionModel
