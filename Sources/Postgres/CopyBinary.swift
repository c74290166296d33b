/// PostgreSQL's COPY binary format (`COPY … FROM STDIN WITH (FORMAT binary)`): a header, then
/// each row as its field count and each field as its length (-1 for NULL) and the type's
/// binary form, then a trailer; every number is big-endian.
///
/// The server takes each field as it is instead of parsing its text: the rows a first import
/// writes straight into its tables, `\copy`'d into copies of them, took the server 9–35% less
/// time in binary than as text (their dates and scores no longer parsed). A caller writes a
/// row with ``startRow(fields:to:)`` then exactly that many fields, in the columns' order and
/// of the columns' types; the server rejects the COPY otherwise.
public enum CopyBinary {
    /// The stream's first bytes: the signature, no flags, no header extension.
    public static let header: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00] + [0, 0, 0, 0] + [0, 0, 0, 0]
    /// The stream's last bytes (a field count of -1).
    public static let trailer: [UInt8] = [0xFF, 0xFF]

    /// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch for dates.
    static let epochDays = 10_957
    /// Significant digits and exponents past these are left to the server's text input: a
    /// score has a few digits, and a double as Swift writes it 17 at most.
    static let maximumDigits = 19
    static let maximumExponent = 1000
    /// Digits written, leading and trailing zeros included.
    static let maximumWritten = 1000

    /// Starts a row of `fields` fields.
    public static func startRow(fields: Int, to buffer: inout [UInt8]) { appendBigEndian(UInt16(fields), to: &buffer) }

    /// A NULL field.
    public static func appendNull(to buffer: inout [UInt8]) { appendBigEndian(UInt32.max, to: &buffer) }

    /// A `bigint` field.
    public static func appendInt64(_ value: Int64, to buffer: inout [UInt8]) {
        appendBigEndian(UInt32(8), to: &buffer)
        appendBigEndian(UInt64(bitPattern: value), to: &buffer)
    }

    /// An `integer` field.
    public static func appendInt32(_ value: Int32, to buffer: inout [UInt8]) {
        appendBigEndian(UInt32(4), to: &buffer)
        appendBigEndian(UInt32(bitPattern: value), to: &buffer)
    }

    /// A `text` field (its UTF-8 bytes), or NULL.
    public static func appendText(_ value: String?, to buffer: inout [UInt8]) {
        guard var value else { return appendNull(to: &buffer) }
        value.withUTF8 { bytes in
            appendBigEndian(UInt32(bytes.count), to: &buffer)
            buffer.append(contentsOf: bytes)
        }
    }

    /// A `boolean` field, or NULL.
    public static func appendBool(_ value: Bool?, to buffer: inout [UInt8]) {
        guard let value else { return appendNull(to: &buffer) }
        appendBigEndian(UInt32(1), to: &buffer)
        buffer.append(value ? 1 : 0)
    }

    /// A `date` field: the day `days` after 1970-01-01.
    public static func appendDate(daysSince1970 days: Int, to buffer: inout [UInt8]) {
        appendBigEndian(UInt32(4), to: &buffer)
        appendBigEndian(UInt32(bitPattern: Int32(truncatingIfNeeded: days - epochDays)), to: &buffer)
    }

    /// A `numeric` field holding `text`, a decimal number as JSON writes one (`-12.50`,
    /// `1e-05`), exactly as the server would read that text, its scale included (`1.50` keeps
    /// two decimals, `1.5e2` none). Returns false, with nothing appended, for anything else, and
    /// past ``maximumDigits`` significant digits, ``maximumWritten`` digits or an exponent of
    /// ``maximumExponent``: such a value goes to the server as text, which reads or refuses it.
    public static func appendNumeric(_ text: String, to buffer: inout [UInt8]) -> Bool {
        var text = text
        guard let number = text.withUTF8(DecimalNumber.init) else { return false }
        // value = mantissa × 10^power, with no trailing zero in the mantissa.
        var (mantissa, power) = (UInt128(number.mantissa), number.exponent - number.fractionDigits)
        while mantissa != 0, mantissa % 10 == 0 {
            mantissa /= 10
            power += 1
        }
        // Base-10000 digits: the mantissa scaled so the power is a multiple of four.
        let aligned = power - ((power % 4) + 4) % 4
        for _ in aligned..<power { mantissa *= 10 }
        var groups: (UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16) = (0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &groups) { raw in
            let slots = raw.bindMemory(to: UInt16.self)
            while mantissa != 0 {
                slots[count] = UInt16(mantissa % 10_000)
                mantissa /= 10_000
                count += 1
            }
        }
        appendBigEndian(UInt32(8 + 2 * count), to: &buffer)
        appendBigEndian(UInt16(count), to: &buffer)
        appendBigEndian(UInt16(bitPattern: Int16(count == 0 ? 0 : aligned / 4 + count - 1)), to: &buffer)
        appendBigEndian(UInt16(number.negative && count > 0 ? 0x4000 : 0), to: &buffer)
        appendBigEndian(UInt16(max(0, number.fractionDigits - number.exponent)), to: &buffer)
        withUnsafeBytes(of: &groups) { raw in
            let slots = raw.bindMemory(to: UInt16.self)
            for index in stride(from: count - 1, through: 0, by: -1) { appendBigEndian(slots[index], to: &buffer) }
        }
        return true
    }

    /// A number as written (`-0012.50e3`: 1250, two digits after the point, exponent 3).
    private struct DecimalNumber {
        var negative = false
        /// Its digits, without the point, as a whole number.
        var mantissa: UInt64 = 0
        var fractionDigits = 0
        var exponent = 0

        /// Reads `[-+]digits[.digits][(e|E)[-+]digits]` with a digit on one side of the point.
        init?(_ bytes: UnsafeBufferPointer<UInt8>) {
            var index = 0
            func next() -> UInt8? { index < bytes.count ? bytes[index] : nil }
            if next() == UInt8(ascii: "-") || next() == UInt8(ascii: "+") {
                negative = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            var inFraction = false
            var (digits, significant) = (0, 0)
            while let byte = next() {
                if byte == UInt8(ascii: "."), !inFraction {
                    inFraction = true
                } else if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                    digits += 1
                    guard digits <= CopyBinary.maximumWritten else { return nil }
                    if inFraction { fractionDigits += 1 }
                    if significant > 0 || byte != UInt8(ascii: "0") { significant += 1 }
                    guard significant <= CopyBinary.maximumDigits else { return nil }
                    mantissa = mantissa * 10 + UInt64(byte - UInt8(ascii: "0"))
                } else {
                    break
                }
                index += 1
            }
            guard digits > 0 else { return nil }
            if next() == UInt8(ascii: "e") || next() == UInt8(ascii: "E") {
                index += 1
                var sign = 1
                if next() == UInt8(ascii: "-") || next() == UInt8(ascii: "+") {
                    sign = bytes[index] == UInt8(ascii: "-") ? -1 : 1
                    index += 1
                }
                var magnitude = 0, exponentDigits = 0
                while let byte = next(), byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                    magnitude = magnitude * 10 + Int(byte - UInt8(ascii: "0"))
                    exponentDigits += 1
                    index += 1
                    guard magnitude <= CopyBinary.maximumExponent else { return nil }
                }
                guard exponentDigits > 0 else { return nil }
                exponent = sign * magnitude
            }
            guard index == bytes.count else { return nil }
        }
    }

    private static func appendBigEndian<T: FixedWidthInteger>(_ value: T, to buffer: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { buffer.append(contentsOf: $0) }
    }
}
