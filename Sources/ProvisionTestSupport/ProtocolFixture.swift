import Foundation
import ProvisionModel

/// Small readable protocol-v1 lines (NDJSON) for the import tests: a header, pupils,
/// assessments and an end record of school 139001.
public enum ProtocolFixture {
    /// The school the fixtures' records belong to.
    public static let school = "139001"
    /// A second school, for boundary tests.
    public static let otherSchool = "139002"

    /// A valid UPN for pupil number `n` (LA 801, establishment 2000 for the first thousand,
    /// 2001 for the next and so on, year 25), distinct for `n` up to 7,999,999.
    public static func upn(_ n: Int) -> String {
        UPN.withCheckLetter("801" + String(format: "%04d", 2000 + n / 1000) + "25" + String(format: "%03d", n % 1000))!
    }

    /// `object` as one NDJSON line with sorted keys.
    public static func line(_ object: [String: Any]) -> String {
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// A `header` record of `plugin`.
    public static func header(_ plugin: String = "fixture", kind: String = "snapshot") -> String {
        line(["type": "header", "protocol": 1, "plugin": plugin, "source_kind": kind])
    }

    /// A valid `pupil` record for pupil number `n`.
    public static func pupil(_ n: Int, upn: String? = nil, school: String = school, sen: String = "N") -> String {
        line([
            "type": "pupil", "school_urn": school, "upn": upn ?? Self.upn(n), "surname": "Surname\(n)",
            "forename": "Forename\(n)", "dob": "2016-09-\(String(format: "%02d", n % 28 + 1))", "year_group": "4",
            "sen_provision": sen, "needs": sen == "N" ? [] : [["code": "SPLD", "rank": 1]],
        ])
    }

    /// A Salford reading-age `assessment` of pupil `n`.
    public static func assessment(_ n: Int, value: Double, date: String = "2025-09-15") -> String {
        line([
            "type": "assessment", "school_urn": school, "upn": upn(n), "instrument": "Salford", "subject": "reading",
            "measure": "age_months", "value": value, "date": date,
        ])
    }

    /// An `end` record with `counts`.
    public static func end(_ counts: [String: Int]) -> String {
        line(["type": "end", "counts": counts])
    }

    /// A complete, valid run of `pupils` pupils, each with one assessment.
    public static func run(pupils: Int, plugin: String = "fixture", kind: String = "snapshot") -> [String] {
        var lines = [header(plugin, kind: kind)]
        for n in 1...pupils {
            lines.append(pupil(n))
            lines.append(assessment(n, value: Double(80 + n % 20)))
        }
        lines.append(end(["pupil": pupils, "assessment": pupils]))
        return lines
    }
}
