import Foundation
import ImporterKit

#if canImport(FoundationXML)
    import FoundationXML
#endif

// Built-in importer `ctf`: DfE Common Transfer File XML. A file with a DOCTYPE or entity
// declarations, or bytes that are not text in its encoding, is refused before any pupil is
// read; malformed XML stops the run with the line, column and element path, so a truncated
// export never half-imports.

let invocation = ImporterInvocation.current(plugin: "ctf")
let files = invocation.requireFiles(matching: ["*.xml", "*.XML"], plugin: "ctf")

// Every file is checked before any record is written. Only full transfers are a snapshot
// of the school's roll: a partial CTF (some pupils only) is a delta, so nobody missing from
// it is marked as left. A file that does not say is treated as partial.
var allFull = true
var singleByte: [String: CTFReader.SingleByteText] = [:]
for file in files {
    do {
        let prolog = try DoctypeGuard.check(file)
        let findings = try PreRead.read(file, encoding: prolog.encoding)
        switch findings.problem {
        case .notUTF8(let position):
            Diagnostics.fail(
                "ctf: \(URL(fileURLWithPath: file).lastPathComponent): \(position) is not UTF-8 text, which the file is read as "
                    + "(it declares UTF-8 or no encoding): is it in another encoding? Ask the MIS to export it again.")
        case .tagTooLong(let position):
            Diagnostics.fail(
                "ctf: \(URL(fileURLWithPath: file).lastPathComponent): the tag at \(position) runs for more than "
                    + "\(PreRead.maxTagLength) characters (thousands of attributes, or a quote that is never closed), "
                    + "which no CTF has; refusing it. Ask the MIS to export it again.")
        case nil:
            break
        }
        if prolog.encoding == .singleByte {
            singleByte[file] = findings.singleByteIsUTF8 ? .utf8 : .windows1252
            if findings.singleByteIsUTF8 {
                Diagnostics.note(
                    "ctf: \(URL(fileURLWithPath: file).lastPathComponent): declares a single-byte encoding (such as ISO-8859-1) "
                        + "but is UTF-8 throughout; read as UTF-8")
            }
        }
        if prolog.documentQualifier != "full" {
            allFull = false
            Diagnostics.note(
                "ctf: \(URL(fileURLWithPath: file).lastPathComponent): DocumentQualifier is "
                    + "'\(prolog.documentQualifier ?? "missing")', so the run is a delta: no pupil is marked as left")
        }
    } catch {
        Diagnostics.fail("ctf: \(error)")
    }
}

let writer = RecordWriter(plugin: "ctf", sourceKind: allFull ? "snapshot" : "delta")
for file in files {
    let name = URL(fileURLWithPath: file).lastPathComponent
    guard let stream = InputStream(fileAtPath: file) else { Diagnostics.fail("ctf: cannot open \(file)") }
    let parser = XMLParser(stream: stream)
    parser.shouldResolveExternalEntities = false
    parser.shouldProcessNamespaces = false
    let reader = CTFReader(writer: writer, fileName: name, boundSchools: invocation.schools, singleByte: singleByte[file])
    parser.delegate = reader
    let parsed = parser.parse()
    if let failure = reader.failure {
        Diagnostics.fail("ctf: \(name): \(failure)")
    }
    if !parsed {
        let reason = parser.parserError.map(ParseErrorWording.describe) ?? "unknown error"
        Diagnostics.fail("ctf: \(name): the XML could not be read (line \(parser.lineNumber), column \(parser.columnNumber)): \(reason)")
    }
    if reader.schoolURN == nil { Diagnostics.fail("ctf: \(name): no Header/SourceSchool: is this a CTF?") }
    Diagnostics.note(
        "ctf: \(name): \(reader.pupils) pupils; \(reader.skippedResults) non-numeric results skipped"
            + (reader.unreadableYearGroups > 0 ? "; \(reader.unreadableYearGroups) NCyearActual values not understood (left out)" : "")
            + (reader.unreadableNeeds > 0 ? "; \(reader.unreadableNeeds) SENtype values not a need type (left out)" : ""))
}
writer.finish()
