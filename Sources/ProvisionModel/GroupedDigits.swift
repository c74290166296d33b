extension BinaryInteger {
    /// The number with a comma between each group of three digits, as reports and progress
    /// lines show counts and money: "1,234,567", "-4,000".
    public var groupedDigits: String {
        let digits = String(magnitude)
        var grouped = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { grouped.append(",") }
            grouped.append(digit)
        }
        return (self < 0 ? "-" : "") + grouped
    }
}
