/// Numbers as spreadsheets write them: digits with an optional decimal point, commas only as
/// thousands separators (`1,250.50`), an optional minus sign and, for money, a pound sign.
///
/// Anything else is not a number, never a guess: a decimal comma (`18,50`, what Excel writes
/// where the decimal mark is a comma) once lost its comma and became 1850; `nan`, `inf`,
/// exponents and hexadecimal, which `Double(_:)` would take, are not what a person typed.
public enum SpreadsheetNumber {
    /// The number `text` writes, or nil. `money` allows a leading `£` (after any minus sign).
    public static func parse(_ text: String, money: Bool = false) -> Double? {
        var rest = Substring(text.trimmedWhitespace)
        var sign = ""
        if rest.first == "-" {
            sign = "-"
            rest = rest.dropFirst()
        }
        if money, rest.first == "£" { rest = rest.dropFirst() }
        let halves = rest.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let whole = halves[0]
        let fraction = halves.count == 2 ? halves[1] : nil
        let isDigit = { (character: Character) in character.isASCII && character.isNumber }
        // "5." and "." are not numbers; ".5" is.
        if let fraction, fraction.isEmpty || !fraction.allSatisfy(isDigit) { return nil }
        guard !whole.isEmpty || fraction != nil, whole.allSatisfy({ isDigit($0) || $0 == "," }) else { return nil }
        let groups = whole.split(separator: ",", omittingEmptySubsequences: false)
        if groups.count > 1 {
            // Thousands: one to three digits, then groups of exactly three.
            guard (1...3).contains(groups[0].count), groups.dropFirst().allSatisfy({ $0.count == 3 }) else { return nil }
        }
        return Double(sign + groups.joined() + (fraction.map { "." + $0 } ?? ""))
    }
}
