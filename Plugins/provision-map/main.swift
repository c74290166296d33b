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
var scoresNotTaken = 0
var outcomeMeasures: [String: String] = [:]
for file in files {
    guard let (reader, header, name) = SpreadsheetFile.open(
        file, invocation: invocation, plugin: "provision-map", required: ProvisionMapColumns.required, known: ProvisionMapColumns.all,
        template: "config/templates/provision-map-template.csv")
    else { continue }
    reader.convertRows(header: header, file: name, writer: writer) { row in
        try ProvisionMapRow.convert(
            row, schools: invocation.schools, writer: writer, provisionsSeen: &provisionsSeen, staffSeen: &staffSeen,
            outcomeMeasures: &outcomeMeasures, scoresNotTaken: &scoresNotTaken)
    }
}
writer.finish()
Diagnostics.note(
    "provision-map: \(provisionsSeen.count) provisions, \(staffSeen.count) staff, \(writer.written["enrolment"] ?? 0) enrolments"
        + (scoresNotTaken > 0 ? "; \(scoresNotTaken) entry or exit scores marked as not taken (absent, n/a) left empty" : ""))
