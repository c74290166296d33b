import Foundation
import ImporterKit
import ProvisionModel

// Built-in importer `provision-map`: the SENCO's provision map, one row per pupil per
// intervention. Each intervention becomes a `provision` (once), each member of staff a
// `staff` record (once), each row an `enrolment`. A bad row becomes an `error` record
// naming the file and line; missing required columns stop the run with their names.

let invocation = ImporterInvocation.current(plugin: "provision-map")
let files = invocation.requireFiles(matching: ["*.csv", "*.CSV"], plugin: "provision-map")

let writer = RecordWriter(plugin: "provision-map")
var provisionsSeen: Set<String> = []
var staffSeen: Set<String> = []
for file in files {
    let name = URL(fileURLWithPath: file).lastPathComponent
    let reader: CSVReader
    do {
        let encoding = try invocation.environment["ENCODING"].flatMap { CSVEncoding(rawValue: $0.lowercased()) }
            ?? EncodingSniffer.detect(file)
        reader = try CSVReader(path: file, encoding: encoding)
    } catch {
        Diagnostics.fail("provision-map: \(error)")
    }
    let first = reader.next()
    if case .failed(_, let reason)? = first { Diagnostics.fail("provision-map: \(name): \(reason)") }
    guard case .row(_, let names)? = first else { continue }
    let header = CSVHeader(names)
    let missing = header.missing(ProvisionMapColumns.required)
    guard missing.isEmpty else {
        Diagnostics.fail(
            "provision-map: \(name): missing columns \(missing.map { "'\($0)'" }.joined(separator: ", ")); "
                + "start from config/templates/provision-map-template.csv")
    }
    if header.position(of: "School URN") == nil && invocation.schools.count != 1 {
        Diagnostics.fail("provision-map: \(name): no 'School URN' column, so the source must be bound to exactly one school")
    }
    let unknown = names.filter { column in
        !column.trimmedWhitespace.isEmpty && !ProvisionMapColumns.all.contains { $0.lowercased() == column.trimmedWhitespace.lowercased() }
    }
    if !unknown.isEmpty {
        Diagnostics.note("provision-map: \(name): ignoring columns \(unknown.map { "'\($0)'" }.joined(separator: ", "))")
    }
    reader.convertRows(header: header, file: name, writer: writer) { row in
        try ProvisionMapRow.convert(
            row, schools: invocation.schools, writer: writer, provisionsSeen: &provisionsSeen, staffSeen: &staffSeen)
    }
}
writer.finish()
Diagnostics.note("provision-map: \(provisionsSeen.count) provisions, \(staffSeen.count) staff, \(writer.written["enrolment"] ?? 0) enrolments")
