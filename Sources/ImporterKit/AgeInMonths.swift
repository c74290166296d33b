/// Ages as schools write reading and language ages in a column the protocol takes in months
/// (`age_months`): months (`88`), or years and months (`7:04`, `7y 4m`, `7 years 4 months`,
/// `7yrs 4mths`), which are turned into months.
///
/// A bare number under ``fewestMonths`` is refused rather than guessed: `7.04` or `8` in a
/// months column is a reading age written in years (7 years 4 months is 88), and stored as
/// months it would read as a collapse the growth model flags.
public enum AgeInMonths {
    /// The fewest months a bare number may be: below it, it is taken for years.
    public static let fewestMonths = 18.0

    /// What reading `text` as an age gives.
    public enum Reading: Equatable, Sendable {
        case months(Double)
        /// A number too small to be months: years, most likely.
        case looksLikeYears(Double)
        case notAnAge
    }

    /// Reads `text` as an age in months.
    public static func read(_ text: String) -> Reading {
        if let number = SpreadsheetNumber.parse(text) {
            return number < fewestMonths ? .looksLikeYears(number) : .months(number)
        }
        guard let (years, months) = yearsAndMonths(text.lowercased().trimmedWhitespace), months < 12 else { return .notAnAge }
        return .months(Double(years * 12 + months))
    }

    /// "7:04", "7y 4m", "7 years 4 months", "7yrs 4mths", "7y" → (7, 4) or (7, 0).
    private static func yearsAndMonths(_ text: String) -> (Int, Int)? {
        let colon = text.split(separator: ":", omittingEmptySubsequences: false)
        if colon.count == 2 {
            guard let years = Int(colon[0]), let months = Int(colon[1]), colon[1].count == 2 else { return nil }
            return (years, months)
        }
        // Numbers each followed by its unit: y, yr(s), year(s); m, mth(s), month(s).
        var numbers: [(Int, String)] = []
        var digits = ""
        var unit = ""
        for character in text + " " {
            if character.isASCII && character.isNumber {
                if !unit.isEmpty {
                    guard let number = Int(digits) else { return nil }
                    numbers.append((number, unit))
                    (digits, unit) = ("", "")
                }
                digits.append(character)
            } else if character.isLetter {
                guard !digits.isEmpty else { return nil }
                unit.append(character)
            } else if !(character == " " || character == ",") {
                return nil
            }
        }
        if !digits.isEmpty {
            guard !unit.isEmpty, let number = Int(digits) else { return nil }
            numbers.append((number, unit))
        }
        let yearUnits: Set<String> = ["y", "yr", "yrs", "year", "years"]
        let monthUnits: Set<String> = ["m", "mth", "mths", "month", "months"]
        switch numbers.count {
        case 1 where yearUnits.contains(numbers[0].1): return (numbers[0].0, 0)
        case 2 where yearUnits.contains(numbers[0].1) && monthUnits.contains(numbers[1].1): return (numbers[0].0, numbers[1].0)
        default: return nil
        }
    }
}

extension SpreadsheetNumber {
    /// A test score in the cell of `column`: a number, or for `age_months` an age
    /// (``AgeInMonths``). Throws the reason, naming the column and the cell, when it is not.
    public static func score(_ text: String, measure: String?, column: String) throws(ImporterError) -> Double {
        let shown = text.prefix(20)
        guard measure == "age_months" else {
            guard let value = parse(text) else { throw ImporterError("\(column) '\(shown)' is not a number") }
            return value
        }
        switch AgeInMonths.read(text) {
        case .months(let months):
            return months
        case .looksLikeYears:
            throw ImporterError(
                "\(column) '\(shown)' is under \(Int(AgeInMonths.fewestMonths)) months, so it is most likely years: "
                    + "write the age in months (7 years 4 months is 88) or as years:months (7:04)")
        case .notAnAge:
            throw ImporterError("\(column) '\(shown)' is not an age in months (88) or years and months (7:04, 7y 4m)")
        }
    }
}
