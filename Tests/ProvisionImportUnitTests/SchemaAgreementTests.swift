import Foundation
import ProvisionImport
import ProvisionTestSupport
import Testing

/// docs/plugin-records.schema.json is what plugin authors code against; these tests keep it
/// and the supervisor's validation in agreement.
@Suite("JSON Schema agrees with validation")
struct SchemaAgreementTests {
    static let dataTypes = ["school", "pupil", "assessment", "staff", "provision", "enrolment", "plan"]

    static func definitions() throws -> [String: [String: Any]] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let data = try Data(contentsOf: root.appendingPathComponent("docs/plugin-records.schema.json"))
        let schema = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try #require(schema["$defs"] as? [String: [String: Any]])
    }

    func outcome(_ record: [String: Any]) throws -> LineResult {
        var validator = RecordStreamValidator(pluginName: "ctf", boundSchools: ["139001"], today: nil)
        _ = try validator.consume(Array(ProtocolFixture.header("ctf").utf8), number: 1)
        return try validator.consume(Array(ProtocolFixture.line(record).utf8), number: 2)
    }

    func accepted(_ record: [String: Any]) throws -> ValidRecord? {
        if case .accepted(let valid) = try outcome(record) { return valid }
        return nil
    }

    @Test(arguments: dataTypes)
    func examplesValidateAndKeepEveryDocumentedField(type: String) throws {
        let definition = try #require(try Self.definitions()[type])
        let properties = try #require(definition["properties"] as? [String: Any])
        let example = try #require((definition["examples"] as? [[String: Any]])?.first)
        #expect(Set(example.keys).isSubset(of: properties.keys), "example uses undocumented fields")
        let valid = try #require(try accepted(example), "the schema's own example is rejected")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(valid.document.utf8)) as? [String: Any])
        #expect(Set(document.keys) == Set(example.keys).subtracting(["type"]))
    }

    @Test(arguments: dataTypes)
    func requiredFieldsAreRequiredAndOthersOptional(type: String) throws {
        let definition = try #require(try Self.definitions()[type])
        let required = Set(try #require(definition["required"] as? [String]))
        let example = try #require((definition["examples"] as? [[String: Any]])?.first)
        for field in example.keys where field != "type" {
            var record = example
            record[field] = nil
            let kept = try accepted(record) != nil
            #expect(kept == !required.contains(field), "\(type).\(field): schema says required=\(required.contains(field)), validation disagrees")
        }
    }

    @Test(arguments: dataTypes)
    func vocabulariesMatch(type: String) throws {
        let definition = try #require(try Self.definitions()[type])
        let properties = try #require(definition["properties"] as? [String: [String: Any]])
        let example = try #require((definition["examples"] as? [[String: Any]])?.first)
        for (field, spec) in properties where field != "type" {
            guard let values = spec["enum"] as? [String] else { continue }
            for value in values {
                var record = example
                record[field] = value
                #expect(try accepted(record) != nil, "\(type).\(field) = \(value) is in the schema but rejected")
            }
            var record = example
            record[field] = "not-a-code"
            #expect(try accepted(record) == nil, "\(type).\(field) accepts a value outside the schema's enum")
        }
    }

    @Test func frameRecordsMatch() throws {
        let definitions = try Self.definitions()
        let header = try #require((definitions["header"]?["examples"] as? [[String: Any]])?.first)
        var validator = RecordStreamValidator(pluginName: "ctf", boundSchools: nil, today: nil)
        guard case .header = try validator.consume(Array(ProtocolFixture.line(header).utf8), number: 1) else {
            Issue.record("header example not accepted as a header")
            return
        }
        let error = try #require((definitions["error"]?["examples"] as? [[String: Any]])?.first)
        guard case .rejected = try validator.consume(Array(ProtocolFixture.line(error).utf8), number: 2) else {
            Issue.record("error example not counted as a rejected record")
            return
        }
        _ = try validator.consume(Array(ProtocolFixture.end(["error": 1]).utf8), number: 3)
        try validator.finish()
    }
}
