/// Turns the wording MIS exports use into the protocol's codes.
public enum SchoolVocabulary {
    /// "Year 3", "Y3", "3", "Reception", "Rec", "N1", "Nursery 2" → `3`, `R`, `N1`, `N2`.
    public static func yearGroup(_ text: String) -> String? {
        let lower = text.lowercased().replacingOccurrences(of: " ", with: "")
        if ["r", "rec", "reception", "yr"].contains(lower) { return "R" }
        if ["n1", "nursery1", "nurs1"].contains(lower) { return "N1" }
        if ["n2", "nursery2", "nurs2", "nursery"].contains(lower) { return "N2" }
        var digits = lower
        for prefix in ["year", "yr", "y"] where digits.hasPrefix(prefix) {
            digits = String(digits.dropFirst(prefix.count))
            break
        }
        guard let number = Int(digits), (1...14).contains(number) else { return nil }
        return String(number)
    }

    /// "K", "SEN Support", "E", "EHC Plan", "Statement", "N", "No SEN" → `K`, `E`, `N`.
    public static func senProvision(_ text: String) -> String? {
        let lower = text.lowercased()
        switch lower {
        case "k", "sen support", "sen-support", "support": return "K"
        case "e", "ehc plan", "ehcp", "ehc", "education, health and care plan", "s", "statement": return "E"
        case "n", "no sen", "none", "no special educational need", "no": return "N"
        default: return nil
        }
    }

    /// "M", "Male", "F", "Female", … → `M`, `F`, `U`, `X`.
    public static func gender(_ text: String) -> String? {
        switch text.lowercased() {
        case "m", "male", "boy": return "M"
        case "f", "female", "girl": return "F"
        case "u", "unknown", "not known": return "U"
        case "x", "other", "indeterminate": return "X"
        default: return nil
        }
    }

    /// A School Census need code, or its description, → the code.
    public static func needCode(_ text: String) -> String? {
        let upper = text.uppercased().trimmedWhitespace
        if Codes.needTypes.contains(upper) { return upper }
        let descriptions: [String: String] = Dictionary(uniqueKeysWithValues: [
            "specific learning difficulty": "SPLD", "moderate learning difficulty": "MLD",
            "severe learning difficulty": "SLD", "profound & multiple learning difficulty": "PMLD",
            "social, emotional and mental health": "SEMH", "speech, language and communications needs": "SLCN",
            "speech, language and communication needs": "SLCN", "hearing impairment": "HI",
            "visual impairment": "VI", "multi-sensory impairment": "MSI", "physical disability": "PD",
            "autistic spectrum disorder": "ASD", "autism": "ASD", "other difficulty/disability": "OTH",
            "sen support but no specialist assessment of type of need": "NSA",
        ].map { (letters($0.key), $0.value) })
        return descriptions[letters(text)]
    }

    /// Lower-case letters only, so "Speech, Language and Communication Needs" and
    /// "speech language & communication needs" compare equal.
    private static func letters(_ text: String) -> String {
        String(text.lowercased().unicodeScalars.filter { $0.properties.isAlphabetic }.map(Character.init))
            .replacingOccurrences(of: "and", with: "")
    }

    /// Yes/No style text → Bool.
    public static func flag(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "y", "yes", "true", "1", "t": return true
        case "n", "no", "false", "0", "f": return false
        default: return nil
        }
    }
}

import ProvisionModel
