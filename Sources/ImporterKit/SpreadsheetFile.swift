import Foundation

/// A spreadsheet template saved as CSV, opened the way every template importer does: the
/// encoding detected (or `ENCODING` from the source's environment), the header read, the
/// required columns checked (the run stops naming the missing ones and the template), a
/// `School URN` column or a single bound school required, and unknown columns noted.
///
/// Commas separate the columns, or semicolons or tabs when the header row says so
/// (``CSVReader/openWithHeader(_:encoding:delimiter:plugin:)``).
public enum SpreadsheetFile {
    /// The file's reader (after the header), its header and its name; nil for an empty file.
    /// Stops the run (exit 65) for what makes the whole file unusable.
    public static func open(
        _ file: String, invocation: ImporterInvocation, plugin: String, required: [String], known: [String], template: String
    ) -> (reader: CSVReader, header: CSVHeader, name: String)? {
        let name = URL(fileURLWithPath: file).lastPathComponent
        let encoding = invocation.environment["ENCODING"].flatMap { CSVEncoding(rawValue: $0.lowercased()) }
        guard let (reader, names) = CSVReader.openWithHeader(file, encoding: encoding, delimiter: nil, plugin: plugin, required: required) else {
            return nil
        }
        let header = CSVHeader(names)
        let missing = header.missing(required)
        guard missing.isEmpty else {
            Diagnostics.fail(
                "\(plugin): \(name): missing columns \(missing.map { "'\($0)'" }.joined(separator: ", ")); start from \(template)")
        }
        if header.position(of: "School URN") == nil && invocation.schools.count != 1 {
            Diagnostics.fail("\(plugin): \(name): no 'School URN' column, so the source must be bound to exactly one school")
        }
        let unknown = names.filter { column in
            !column.trimmedWhitespace.isEmpty && !known.contains { $0.lowercased() == column.trimmedWhitespace.lowercased() }
        }
        if !unknown.isEmpty {
            Diagnostics.note("\(plugin): \(name): ignoring columns \(unknown.map { "'\($0)'" }.joined(separator: ", "))")
        }
        return (reader, header, name)
    }
}
