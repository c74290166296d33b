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

    /// The words of a cell, lower case, without the joining ones: "Sensory and/or Physical
    /// Needs" and "sensory & physical" are both `sensoryphysical`.
    private static func key(_ text: String) -> String {
        SchoolVocabulary.words(text).filter { $0 != "needs" && $0 != "need" }.joined()
    }

    /// One of the four broad areas of the SEND Code of Practice, by code, name or (as a
    /// SENCO may write the pupil's need instead) a need type the Code places in it.
    /// A code beside the name ("Cognition & Learning (CL)", "CL - Cognition and learning") is
    /// read when its parts agree.
    static func areaOfNeed(_ text: String) -> String? {
        if let area = areas[key(text)] { return area }
        let found = Set(text.split { "()-–:".contains($0) }.compactMap { areas[key(String($0))] })
        return found.count == 1 ? found.first : nil
    }

    private static let areas: [String: String] = [
        "ci": "CI", "communicationinteraction": "CI", "slcn": "CI", "asd": "CI", "asc": "CI",
        "cl": "CL", "cognitionlearning": "CL", "spld": "CL", "mld": "CL", "sld": "CL", "pmld": "CL",
        "semh": "SEMH", "socialemotionalmentalhealth": "SEMH",
        "sp": "SP", "sensoryphysical": "SP", "physicalsensory": "SP", "hi": "SP", "vi": "SP", "msi": "SP", "pd": "SP",
    ]

    /// 1, 2 or 3, from "Wave 2", "2", "Tier 2", or the words the waves go by: universal,
    /// targeted, specialist.
    static func wave(_ text: String) -> Int? {
        switch key(text) {
        case "universal", "qualityfirstteaching": return 1
        case "targeted": return 2
        case "specialist", "specialised", "personalised": return 3
        default: break
        }
        let digits = text.filter(\.isNumber)
        guard let wave = Int(digits), (1...3).contains(wave) else { return nil }
        return wave
    }

    static func delivery(_ text: String) -> String? {
        let lower = text.lowercased().trimmedWhitespace
        switch lower {
        case "individual", "individually", "1:1", "1-1", "1 to 1", "one to one", "one-to-one": return "individual"
        case "group", "small group", "pair", "paired", "pairs": return "group"
        case "class", "whole class", "whole-class": return "class"
        default:
            // 1:2, 1:4 …: an adult with a small group.
            let parts = lower.split(separator: ":")
            if parts.count == 2, parts[0] == "1", let size = Int(parts[1]), (2...30).contains(size) { return "group" }
            return nil
        }
    }

    /// An enrolment's status, from the protocol's words or those a provision map uses.
    static func status(_ text: String) -> String? {
        let words: [String: String] = [
            "planned": "planned", "notstarted": "planned", "tostart": "planned", "waiting": "planned",
            "active": "active", "ongoing": "active", "inprogress": "active", "current": "active",
            "completed": "completed", "complete": "completed", "finished": "completed", "ended": "completed",
            "withdrawn": "withdrawn", "stopped": "withdrawn", "discontinued": "withdrawn",
        ]
        return words[key(text)]
    }

    /// A group's size as maps write it: `4`, `4 pupils`, `6 children`.
    static func groupSize(_ text: String) -> Double? {
        SpreadsheetNumber.parse(strip(text, units: ["pupils", "pupil", "children", "child", "students", "student"]))
    }

    /// Sessions a week as maps write them: `3`, `3x`, `x3`, `3 times`, `3 per week`, `3x weekly`,
    /// `daily` (five).
    static func sessionsPerWeek(_ text: String) -> Double? {
        var rest = text.trimmedWhitespace.lowercased()
        if rest == "daily" || rest == "every day" { return 5 }
        if rest == "weekly" || rest == "once a week" { return 1 }
        if rest.hasPrefix("x") { rest.removeFirst() }
        rest = strip(rest, units: ["per week", "a week", "weekly", "times", "sessions", "session"])
        if rest.hasSuffix("x") { rest.removeLast() }
        return SpreadsheetNumber.parse(rest)
    }

    /// Minutes a session as maps write them: `30`, `30 mins`, `30 minutes`, `1 hour`, `1.5 hrs`.
    static func minutesPerSession(_ text: String) -> Double? {
        let hours = strip(text, units: ["hours", "hour", "hrs", "hr"])
        if hours != text.trimmedWhitespace.lowercased() { return SpreadsheetNumber.parse(hours).map { $0 * 60 } }
        return SpreadsheetNumber.parse(strip(text, units: ["minutes", "minute", "mins", "min"]))
    }

    /// `text`, lower case, without the first of `units` it ends with (and the space before it).
    private static func strip(_ text: String, units: [String]) -> String {
        let lower = text.trimmedWhitespace.lowercased()
        for unit in units where lower.hasSuffix(unit) { return String(lower.dropLast(unit.count)).trimmedWhitespace }
        return lower
    }

    /// A target gain as SENCOs write one: `6`, `+6`, `6 months`, `+5 points`, `2 steps`.
    static func gain(_ text: String) -> Double? {
        var rest = strip(text, units: ["months", "month", "mths", "mth", "points", "point", "pts", "steps", "step"])
        if rest.hasPrefix("+") { rest.removeFirst() }
        return SpreadsheetNumber.parse(rest)
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
        let roles = [
            "teacher": "teacher", "classteacher": "teacher", "specialistteacher": "teacher",
            "ta": "TA", "teachingassistant": "TA", "lsa": "TA", "learningsupportassistant": "TA",
            "hlta": "HLTA", "higherlevelteachingassistant": "HLTA",
            "senco": "SENCO", "sendco": "SENCO",
            "external": "external", "outsideagency": "external", "salt": "external", "slt": "external",
            "speechlanguagetherapist": "external", "ep": "external", "educationalpsychologist": "external",
            "ot": "external", "occupationaltherapist": "external",
        ]
        return roles[key(text)]
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
        DateLayout.dayMonthYear.parseEitherWay(text)
    }
}
