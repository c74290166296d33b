import Foundation
import ImporterKit
import ProvisionModel

// Built-in importer `plans`: a school's existing support plans from a spreadsheet, one row
// per target. Rows with the same Plan ID make one `plan` record, its targets in row order;
// the plan's own columns (kind, strengths, needs, …) are read from its first row that fills
// them, and a later row that says otherwise is an error. A bad row becomes an `error` record
// naming the file and line; missing required columns stop the run with their names.

let invocation = ImporterInvocation.current(plugin: "plans")
let files = invocation.requireFiles(matching: ["*.csv", "*.CSV"], plugin: "plans")
let writer = RecordWriter(plugin: "plans")

/// A plan being gathered from its rows.
struct GatheredPlan {
    var fields: [String: JSONValue?]
    var targets: [JSONValue] = []
    var planCells: [String: String] = [:]
}
var plans: [String: GatheredPlan] = [:]
var order: [String] = []

for file in files {
    guard let (reader, header, name) = SpreadsheetFile.open(
        file, invocation: invocation, plugin: "plans", required: PlanColumns.required, known: PlanColumns.all,
        template: "config/templates/plans-template.csv")
    else { continue }
    reader.convertRows(header: header, file: name, writer: writer) { row in
        func cell(_ column: String) -> String? { row[column] }
        func read<T>(_ column: String, _ parse: (String) -> T?, _ expected: String) throws -> T? {
            guard let text = cell(column) else { return nil }
            guard let value = parse(text) else { throw ImporterError("\(column) '\(text.prefix(40))' is not \(expected)") }
            return value
        }
        guard let reference = cell("Plan ID") else { throw ImporterError("Plan ID is empty") }
        guard let upn = cell("UPN")?.uppercased() else { throw ImporterError("UPN is empty") }
        guard let target = cell("Target") else { throw ImporterError("Target is empty") }
        guard let by = try read("Target by", PlanColumns.date, "a date (dd/mm/yyyy)") else { throw ImporterError("Target by is empty") }
        let urn = cell("School URN") ?? invocation.schools.first ?? ""
        let key = urn + "/" + reference

        var targetFields: [String: JSONValue] = ["description": .string(target), "by": .string(by.iso)]
        if let how = cell("Measured by") { targetFields["measured_by"] = .string(how) }
        if let test = cell("Test") {
            guard let measure = try read("Test measure", PlanColumns.measure, "a measure (standardised, reading age months, scaled, raw, steps)"),
                let value = try read("Target value", { SpreadsheetNumber.parse($0) }, "a number")
            else { throw ImporterError("a linked Test needs its Test measure and Target value") }
            targetFields["instrument"] = .string(test)
            targetFields["subject"] = .string(cell("Test subject") ?? "reading")
            targetFields["measure"] = .string(measure)
            targetFields["target_value"] = .number(value)
        }

        // The plan's own columns: the first row that fills one sets it; a row that differs is wrong.
        var plan = plans[key] ?? GatheredPlan(fields: [
            "school_urn": .string(urn), "plan_ref": .string(reference), "upn": .string(upn), "kind": .string("sen_support"),
        ])
        if case .string(let known)? = plan.fields["upn"], known != upn {
            throw ImporterError("Plan ID \(reference) is \(known)'s plan, but this row names \(upn)")
        }
        for column in PlanColumns.planColumns {
            guard let value = cell(column) else { continue }
            if let earlier = plan.planCells[column] {
                guard earlier == value else { throw ImporterError("\(column) differs from an earlier row of Plan ID \(reference)") }
                continue
            }
            switch column {
            case "Kind":
                plan.fields["kind"] = .string(try read(column, PlanColumns.kind, "SEN support or EHC plan") ?? "sen_support")
            case "Next review":
                plan.fields["next_review"] = try read(column, PlanColumns.date, "a date (dd/mm/yyyy)").map { .string($0.iso) }
            case "Written on":
                plan.fields["written_on"] = try read(column, PlanColumns.date, "a date (dd/mm/yyyy)").map { .string($0.iso) }
            case "Provisions":
                let ids = value.split(whereSeparator: { $0 == ";" || $0 == "," }).map { String($0).trimmedWhitespace }.filter { !$0.isEmpty }
                plan.fields["provision_ids"] = .array(ids.map { .string($0) })
            default:
                let key = ["Strengths": "strengths", "Needs": "needs", "Strategies": "strategies", "People involved": "people"][column] ?? column
                plan.fields[key] = .string(value)
            }
            plan.planCells[column] = value
        }
        plan.targets.append(.object(targetFields))
        if plans[key] == nil { order.append(key) }
        plans[key] = plan
    }
}
for key in order {
    guard var plan = plans[key] else { continue }
    plan.fields["targets"] = .array(plan.targets)
    writer.record("plan", plan.fields)
}
writer.finish()
Diagnostics.note("plans: \(order.count) plans, \(plans.values.map(\.targets.count).reduce(0, +)) targets")
