/// Turns UTF-16 bytes into UTF-8 a chunk at a time, for ``CSVReader``: Excel's "Unicode
/// Text" is UTF-16 (little-endian, with a byte-order mark, tabs between the columns), and
/// the reader splits rows and fields on UTF-8 bytes.
///
/// A code unit or surrogate cut by the end of a chunk waits for the next one. What is not
/// UTF-16 (a lone surrogate, an odd byte at the end of the file) becomes the byte 0xFF,
/// which is never UTF-8: the row holding it is reported as not valid text, as a bad byte
/// in a UTF-8 file is, and the rows around it are read.
struct UTF16Transcoding {
    let bigEndian: Bool
    private var pendingByte: UInt8?
    private var pendingHigh: UInt16?

    init(bigEndian: Bool) { self.bigEndian = bigEndian }

    private static let notText: UInt8 = 0xFF

    /// The UTF-8 of `bytes`, the next part of the file.
    mutating func transcode(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        for byte in bytes {
            guard let first = pendingByte else {
                pendingByte = byte
                continue
            }
            pendingByte = nil
            take(bigEndian ? UInt16(first) << 8 | UInt16(byte) : UInt16(byte) << 8 | UInt16(first), into: &output)
        }
        return output
    }

    /// What is left at the end of the file: nothing, or the mark of a unit cut short.
    mutating func finish() -> [UInt8] {
        defer { (pendingByte, pendingHigh) = (nil, nil) }
        return pendingByte != nil || pendingHigh != nil ? [Self.notText] : []
    }

    private mutating func take(_ unit: UInt16, into output: inout [UInt8]) {
        if let high = pendingHigh {
            pendingHigh = nil
            if (0xDC00...0xDFFF).contains(unit) {
                let scalar = 0x10000 + (UInt32(high - 0xD800) << 10) + UInt32(unit - 0xDC00)
                append(scalar, to: &output)
                return
            }
            output.append(Self.notText)
        }
        switch unit {
        case 0xD800...0xDBFF: pendingHigh = unit
        case 0xDC00...0xDFFF: output.append(Self.notText)
        default: append(UInt32(unit), to: &output)
        }
    }

    private func append(_ value: UInt32, to output: inout [UInt8]) {
        if let scalar = Unicode.Scalar(value) { output.append(contentsOf: scalar.utf8) } else { output.append(Self.notText) }
    }
}
