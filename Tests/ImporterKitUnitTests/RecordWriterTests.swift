import Foundation
import ImporterKit
import ProvisionModel
import ProvisionTestSupport
import Testing

@Suite("record writing")
struct RecordWriterTests {
    @Test func recordsAreCanonicalLinesWithCountsAtTheEnd() throws {
        let folder = try TestProcess.temporaryDirectory("writer")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/out.ndjson"
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        let output = try #require(FileHandle(forWritingAtPath: path))
        let writer = RecordWriter(plugin: "test", output: output)
        // Keys in order (the type among them), absent values left out, text escaped.
        writer.record("assessment", [
            "upn": .string("A123"), "value": .number(112), "date": .string("2025-11-03"), "note": nil,
            "subject": .string("say \"hi\"\n"), "ratio": .number(0.5),
        ])
        writer.record("pupil", ["upn": .string("B1"), "needs": .array([.object(["rank": .number(1), "code": .string("SPLD")])])])
        writer.error("bad row", ref: "f.csv:3")
        writer.finish()
        try output.close()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines == [
            #"{"plugin":"test","protocol":1,"source_kind":"snapshot","type":"header"}"#,
            #"{"date":"2025-11-03","ratio":0.5,"subject":"say \"hi\"\n","type":"assessment","upn":"A123","value":112}"#,
            #"{"needs":[{"code":"SPLD","rank":1}],"type":"pupil","upn":"B1"}"#,
            #"{"message":"bad row","ref":"f.csv:3","type":"error"}"#,
            #"{"counts":{"assessment":1,"error":1,"pupil":1},"type":"end"}"#,
            "",
        ])
        #expect(writer.written == ["assessment": 1, "pupil": 1, "error": 1])
    }
}
