import ProvisionModel

/// A cursor over one line that takes only the plain shape of a record (``PlainResultLine``,
/// ``PlainPupilLine``): strings of printable ASCII without escapes, numbers as JSON writes
/// them, `true` and `false`. Anything else it answers nil, for the line to be parsed as JSON.
/// Its static functions take a value as the rules would keep it unchanged (``FieldReader``
/// trims and upper-cases; a value that needs either is not plain).
struct PlainLineScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    var atEnd: Bool { index == bytes.count }

    mutating func skipWhitespace() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x09 || bytes[index] == 0x0D || bytes[index] == 0x0A {
            index += 1
        }
    }

    mutating func take(_ byte: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    /// The range of a string's text; nil at anything else, or at a string holding an
    /// escape, a control character or a byte outside ASCII.
    mutating func plainString() -> Range<Int>? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return start..<(index - 1)
            }
            guard byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "\\") else { return nil }
            index += 1
        }
        return nil
    }

    /// The range of a number's text, as JSON's grammar has it (RFC 8259, section 6).
    mutating func number() -> Range<Int>? {
        let start = index
        _ = take(UInt8(ascii: "-"))
        guard index < bytes.count, isDigit(bytes[index]) else { return nil }
        if bytes[index] == 0x30 { index += 1 } else { digits() }
        if take(UInt8(ascii: ".")) {
            guard index < bytes.count, isDigit(bytes[index]) else { return nil }
            digits()
        }
        if take(UInt8(ascii: "e")) || take(UInt8(ascii: "E")) {
            if !take(UInt8(ascii: "+")) { _ = take(UInt8(ascii: "-")) }
            guard index < bytes.count, isDigit(bytes[index]) else { return nil }
            digits()
        }
        return start..<index
    }

    /// `true` or `false`; nil at anything else.
    mutating func bool() -> Bool? {
        if take(literal: "true") { return true }
        if take(literal: "false") { return false }
        return nil
    }

    /// Whether `text` (a key, say) is the bytes at `range`.
    func text(_ range: Range<Int>, is text: StaticString) -> Bool {
        Self.equal(UnsafeBufferPointer(rebasing: bytes[range]), text)
    }

    /// Whether `bytes` are `text`'s (compared in place: `elementsEqual` was a twentieth of
    /// reading a plain line).
    static func equal(_ bytes: UnsafeBufferPointer<UInt8>, _ text: StaticString) -> Bool {
        guard bytes.count == text.utf8CodeUnitCount else { return false }
        let other = text.utf8Start
        for index in 0..<bytes.count where bytes[index] != other[index] { return false }
        return true
    }

    private mutating func take(literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - index >= count, text(index..<(index + count), is: literal) else { return false }
        index += count
        return true
    }

    // MARK: Values

    static func string(_ value: UnsafeBufferPointer<UInt8>) -> String {
        String(decoding: value, as: UTF8.self)
    }

    /// `value` when it is not empty, has no space at either end and fits `maxLength`
    /// (printable ASCII: a byte is a character).
    static func asIs(_ value: UnsafeBufferPointer<UInt8>, maxLength: Int) -> String? {
        guard let first = value.first, let last = value.last, first != 0x20, last != 0x20, value.count <= maxLength else { return nil }
        return string(value)
    }

    /// A URN: six digits.
    static func urn(_ value: UnsafeBufferPointer<UInt8>) -> String? {
        value.count == 6 && value.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } ? string(value) : nil
    }

    /// Thirteen bytes with no lower-case letter, for ``UPN/read(_:)`` to check the shape of.
    static func upn(_ value: UnsafeBufferPointer<UInt8>) -> String? {
        value.count == 13 && !value.contains { $0 >= 0x61 && $0 <= 0x7A } ? string(value) : nil
    }

    /// A real date in the form YYYY-MM-DD.
    static func date(_ value: UnsafeBufferPointer<UInt8>) -> String? {
        guard value.count == 10 else { return nil }
        let text = string(value)
        return SchoolDate(iso: text) == nil ? nil : text
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    private mutating func digits() {
        while index < bytes.count, isDigit(bytes[index]) { index += 1 }
    }
}
