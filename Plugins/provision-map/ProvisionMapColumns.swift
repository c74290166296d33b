import ImporterKit
import ProvisionModel

/// The provision-map template's columns and how each cell is read. Words SENCOs write are
/// accepted as well as the protocol's codes ("Cognition and learning" as well as `CL`).
enum ProvisionMapColumns {
    static let required = ["Intervention", "Start date", "UPN"]

    static let all = [
        "School URN", "Intervention", "Provision ID", "Area of need", "Wave", "Priority", "Statutory (EHCP)",
        "Delivery", "Staff", "Staff role", "Staff hourly cost", "Group size", "Sessions per week",
        "Minutes per session", "Start date", "End date", "Hourly cost", "Resource cost", "Funding stream",
        "Outcome instrument", "Outcome subject", "Outcome measure", "Target gain", "UPN", "Pupil",
        "Entry score", "Entry date", "Exit score", "Exit date", "Target", "Status", "Parent informed",
    ]

    static func areaOfNeed(_ text: String) -> String? {
        let key = text.lowercased().filter(\.isLetter)
        let words: [String: String] = [
            "ci": "CI", "communicationandinteraction": "CI", "cl": "CL", "cognitionandlearning": "CL",
            "semh": "SEMH", "socialemotionalandmentalhealth": "SEMH", "sp": "SP", "sensoryandorphysical": "SP",
            "sensoryandphysical": "SP", "sensoryorphysical": "SP",
        ]
        return words[key]
    }

    static func wave(_ text: String) -> Int? {
        let digits = text.filter(\.isNumber)
        guard let wave = Int(digits), (1...3).contains(wave) else { return nil }
        return wave
    }

    static func delivery(_ text: String) -> String? {
        switch text.lowercased().trimmedWhitespace {
        case "individual", "1:1", "1-1", "one to one", "one-to-one": return "individual"
        case "group", "small group": return "group"
        case "class", "whole class": return "class"
        default: return nil
        }
    }

    static func measure(_ text: String) -> String? {
        let key = text.lowercased().filter(\.isLetter)
        let words: [String: String] = [
            "agemonths": "age_months", "readingagemonths": "age_months", "readingage": "age_months",
            "ageequivalentmonths": "age_months", "standardised": "standardised", "standardisedscore": "standardised",
            "ss": "standardised", "sas": "standardised", "scaled": "scaled", "scaledscore": "scaled", "raw": "raw",
            "rawscore": "raw", "steps": "steps",
        ]
        return words[key]
    }

    static func role(_ text: String) -> String? {
        let roles = ["teacher": "teacher", "ta": "TA", "teaching assistant": "TA", "hlta": "HLTA", "senco": "SENCO", "external": "external"]
        return roles[text.lowercased().trimmedWhitespace]
    }

    /// `Reading Catch-Up` started 2025-09-08 → `reading-catch-up-2025-09-08`.
    static func slug(_ text: String) -> String {
        var slug = ""
        for character in text.lowercased() {
            if character.isLetter || character.isNumber {
                slug.append(character)
            } else if !slug.hasSuffix("-") && !slug.isEmpty {
                slug.append("-")
            }
        }
        while slug.hasSuffix("-") { slug.removeLast() }
        return slug
    }

    /// Reads a date written either way SENCOs write them.
    static func date(_ text: String) -> SchoolDate? {
        DateLayout.dayMonthYear.parse(text) ?? DateLayout.iso.parse(text)
    }
}
