/// Turns the wording MIS exports use into the protocol's codes.
public enum SchoolVocabulary {
    /// "Year 3", "Y3", "3", "Reception", "Rec", "Year R", "N1", "Nursery 2" → `3`, `R`, `N1`, `N2`.
    public static func yearGroup(_ text: String) -> String? {
        let lower = text.lowercased().replacingOccurrences(of: " ", with: "")
        if let early = earlyYears(lower) { return early }
        var digits = lower
        for prefix in ["year", "yr", "y"] where digits.hasPrefix(prefix) {
            digits = String(digits.dropFirst(prefix.count))
            break
        }
        // "Year R", "Yr N2"
        if let early = earlyYears(digits) { return early }
        guard let number = Int(digits), (1...14).contains(number) else { return nil }
        return String(number)
    }

    private static func earlyYears(_ lower: String) -> String? {
        if ["r", "rec", "reception", "yr"].contains(lower) { return "R" }
        if ["n1", "nursery1", "nurs1"].contains(lower) { return "N1" }
        if ["n2", "nursery2", "nurs2", "nursery"].contains(lower) { return "N2" }
        return nil
    }

    /// The words of `text`, lower case, letters only, without the joining "and" and "or":
    /// "Sensory and/or Physical" and "sensory & physical" have the same words.
    public static func words(_ text: String) -> [Substring] {
        text.lowercased().split { !$0.isLetter }.filter { $0 != "and" && $0 != "or" }
    }

    /// "K", "SEN Support", "E", "EHC Plan", "Education, Health & Care Plan", "Statement", "N",
    /// "No SEN", or a code with its words ("K - SEN Support") → `K`, `E`, `N`; the codes before
    /// 2014, School Action (`A`) and School Action Plus (`P`), → `K`, which replaced both (an
    /// older CTF's periods still carry them).
    public static func senProvision(_ text: String) -> String? {
        let words = Self.words(text)
        let key = words.joined()
        let provisions: [String: String] = [
            "k": "K", "sensupport": "K", "support": "K", "a": "K", "p": "K", "sa": "K", "schoolaction": "K",
            "schoolactionplus": "K",
            "e": "E", "ehcplan": "E", "ehcp": "E", "ehc": "E", "educationhealthcareplan": "E", "s": "E", "statement": "E",
            "n": "N", "nosen": "N", "none": "N", "nospecialeducationalneed": "N", "nospecialeducationalneeds": "N", "no": "N",
        ]
        if let provision = provisions[key] { return provision }
        // "K - SEN Support": the code, then the same status in words.
        guard let code = words.first, code.count == 1, let first = provisions[String(code)],
            provisions[words.dropFirst().joined()] == first
        else { return nil }
        return first
    }

    /// "M", "Male", "F", "Female", … → `M`, `F`, `U`, `X`.
    public static func gender(_ text: String) -> String? {
        switch text.lowercased() {
        case "m", "male", "boy": return "M"
        case "f", "female", "girl": return "F"
        case "u", "unknown", "not known", "not stated", "not specified", "prefer not to say": return "U"
        case "x", "other", "indeterminate": return "X"
        default: return nil
        }
    }

    /// A School Census need code, or its description, → the code. MIS wordings differ: a
    /// description in the plural ("Moderate Learning Difficulties"), with the code before or
    /// after it ("ASD - Autistic Spectrum Disorder", "Specific Learning Difficulty (SpLD)"),
    /// or "condition" for "disorder" are all read; anything else is nil, never a guess.
    public static func needCode(_ text: String) -> String? {
        let upper = text.uppercased().trimmedWhitespace
        if Codes.needTypes.contains(upper) { return upper }
        // The code first, set apart by a mark: "ASD - …", "SPLD: …", "SPLD/…" (not by a space
        // alone: "Hi …" is not hearing impairment).
        if let end = upper.firstIndex(where: { !$0.isLetter }) {
            let code = String(upper[..<end])
            if Codes.needTypes.contains(code), let mark = upper[end...].first(where: { $0 != " " }), "-–:/(".contains(mark) {
                return code
            }
        }
        // The code last, in brackets: "… (SPLD)".
        if upper.hasSuffix(")"), let open = upper.lastIndex(of: "(") {
            let code = String(upper[upper.index(after: open)..<upper.index(before: upper.endIndex)]).trimmedWhitespace
            if Codes.needTypes.contains(code) { return code }
        }
        return needDescriptions[letters(text)]
    }

    private static let needDescriptions: [String: String] = Dictionary(uniqueKeysWithValues: [
        "specific learning difficulty": "SPLD", "moderate learning difficulty": "MLD",
        "severe learning difficulty": "SLD", "profound & multiple learning difficulty": "PMLD",
        "social, emotional and mental health": "SEMH", "social, emotional and mental health difficulty": "SEMH",
        "speech, language and communications needs": "SLCN", "speech, language and communication needs": "SLCN",
        "speech, language and communication": "SLCN", "hearing impairment": "HI",
        "visual impairment": "VI", "multi-sensory impairment": "MSI", "physical disability": "PD",
        "autistic spectrum disorder": "ASD", "autism spectrum disorder": "ASD", "autistic spectrum condition": "ASD",
        "autism spectrum condition": "ASD", "autism": "ASD", "ASC": "ASD",
        "other difficulty/disability": "OTH", "other difficulty or disability": "OTH",
        "sen support but no specialist assessment of type of need": "NSA", "no specialist assessment": "NSA",
    ].map { (letters($0.key), $0.value) })

    /// Lower-case letters only, singular, so "Speech, Language and Communication Needs" and
    /// "speech language & communication needs", or "Moderate Learning Difficulties" and
    /// "moderate learning difficulty", compare equal.
    private static func letters(_ text: String) -> String {
        String(text.lowercased().unicodeScalars.filter { $0.properties.isAlphabetic }.map(Character.init))
            .replacingOccurrences(of: "and", with: "")
            .replacingOccurrences(of: "difficulties", with: "difficulty")
            .replacingOccurrences(of: "disabilities", with: "disability")
            .replacingOccurrences(of: "impairments", with: "impairment")
    }

    /// Whether a score cell holds the mark of a test not taken ("A", "Abs", "Absent", "N/A",
    /// "-", "X", "Disapplied", "Not taken") rather than a score: read as no score, where it
    /// made the whole row an error (a provision-map row, and with it the pupil's place in
    /// the intervention, was lost for an exit test they were absent from).
    public static func notTaken(_ text: String) -> Bool {
        let lower = text.lowercased().trimmedWhitespace
        return ["a", "abs", "absent", "n/a", "na", "-", "–", "x", "d", "disapplied", "not taken", "not tested", "nt"]
            .contains(lower)
    }

    /// Yes/No style text → Bool.
    public static func flag(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "y", "yes", "true", "1", "t", "eligible": return true
        case "n", "no", "false", "0", "f", "not eligible", "ineligible": return false
        default: return nil
        }
    }
}

import ProvisionModel
