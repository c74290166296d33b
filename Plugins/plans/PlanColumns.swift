import ImporterKit
import ProvisionModel

/// The plans template's columns and how each cell is read. Words SENCOs write are accepted
/// as well as the protocol's codes ("EHC plan" as well as `ehcp`).
enum PlanColumns {
    static let required = ["Plan ID", "UPN", "Next review", "Target", "Target by"]

    static let all = [
        "School URN", "Plan ID", "UPN", "Pupil", "Kind", "Strengths", "Needs", "Strategies", "People involved",
        "Next review", "Written on", "Provisions", "Target", "Target by", "Measured by", "Test", "Test subject",
        "Test measure", "Target value",
    ]

    /// The columns that describe the plan rather than one target: the same on each of its rows.
    static let planColumns = ["Kind", "Strengths", "Needs", "Strategies", "People involved", "Next review", "Written on", "Provisions"]

    static func kind(_ text: String) -> String? {
        let key = text.lowercased().filter(\.isLetter)
        let words: [String: String] = [
            "sensupport": "sen_support", "sensupportplan": "sen_support", "iep": "sen_support", "individualeducationplan": "sen_support",
            "supportplan": "sen_support", "ehcp": "ehcp", "ehcplan": "ehcp", "ehcplanoutcomes": "ehcp", "ehcpoutcomes": "ehcp",
            "educationhealthandcareplan": "ehcp", "educationhealthcareplan": "ehcp",
        ]
        return words[key]
    }

    static func measure(_ text: String) -> String? {
        let key = text.lowercased().filter(\.isLetter)
        let words: [String: String] = [
            "agemonths": "age_months", "readingagemonths": "age_months", "readingage": "age_months", "spellingage": "age_months",
            "standardised": "standardised", "standardisedscore": "standardised", "ss": "standardised", "sas": "standardised",
            "scaled": "scaled", "scaledscore": "scaled", "raw": "raw", "rawscore": "raw", "steps": "steps",
        ]
        return words[key]
    }

    /// Reads a date written either way SENCOs write them.
    static func date(_ text: String) -> SchoolDate? {
        DateLayout.dayMonthYear.parseEitherWay(text)
    }
}
