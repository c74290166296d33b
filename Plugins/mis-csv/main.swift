import Foundation
import ImporterKit
import ProvisionTOML
import ProvisionModel

// Built-in importer `mis-csv`: CSV exports from MIS reports, described by a mapping file.
// Each bad row becomes an `error` record naming the file and line; only a problem with the
// whole file (no mapping, missing columns) stops the run.

let invocation = ImporterInvocation.current(plugin: "mis-csv")
let mapping: CSVMapping
do {
    mapping = try CSVMapping.load(try CSVMapping.locate(invocation))
} catch let error as ConfigError {
    Diagnostics.fail("mapping error: \(error)", status: 78)
} catch {
    Diagnostics.fail("mis-csv: \(error)", status: 78)
}
let files = invocation.requireFiles(matching: ["*.csv", "*.CSV"], plugin: "mis-csv")
if mapping.columns["school_urn"] == nil && invocation.schools.count != 1 {
    Diagnostics.fail(
        "mis-csv: the mapping has no school_urn column, so the source must be bound to exactly one school (it is bound to \(invocation.schools.count))")
}

let writer = RecordWriter(plugin: "mis-csv")
var resultsNotTaken = 0
for file in files {
    let name = URL(fileURLWithPath: file).lastPathComponent
    guard
        let (reader, names) = CSVReader.openWithHeader(
            file, encoding: mapping.encoding, delimiter: mapping.delimiter, plugin: "mis-csv", required: mapping.requiredColumns)
    else { continue }
    let header = CSVHeader(names)
    let missing = header.missing(mapping.requiredColumns)
    guard missing.isEmpty else {
        Diagnostics.fail(
            "mis-csv: \(name): missing columns \(missing.map { "'\($0)'" }.joined(separator: ", ")) that mapping '\(mapping.name)' expects; check the export's columns or the mapping")
    }
    reader.convertRows(header: header, file: name, writer: writer) { row in
        try RowConverter.convert(row, mapping: mapping, schools: invocation.schools, writer: writer, resultsNotTaken: &resultsNotTaken)
    }
}
writer.finish()
let total = writer.written.values.reduce(0, +)
Diagnostics.note(
    "mis-csv: \(files.count) file(s), \(total) records, mapping '\(mapping.name)'"
        + (resultsNotTaken > 0 ? "; \(resultsNotTaken) scores marked as not taken (absent, n/a) skipped" : ""))
