import ProvisionModel
import Testing

@Suite("keyed hasher")
struct KeyedHasherTests {
    /// The key 00 01 … 0f of the SipHash paper's test vectors.
    let paperKey: (UInt64, UInt64) = (0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908)

    func hash(_ bytes: [UInt8], key: (UInt64, UInt64), rounds: (compression: Int, finalization: Int) = (1, 3)) -> Int {
        var hasher = KeyedHasher(key: key, rounds: rounds)
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        return hasher.finalize()
    }

    /// SipHash-2-4 of the empty message and of bytes 00 … 0e under the paper's key, as
    /// published: the rounds, the key schedule and the length byte are right.
    @Test func sipHash24GivesThePublishedValues() {
        #expect(UInt64(bitPattern: Int64(hash([], key: paperKey, rounds: (2, 4)))) == 0x726f_db47_dd0e_0e31)
        #expect(UInt64(bitPattern: Int64(hash(Array(0..<15), key: paperKey, rounds: (2, 4)))) == 0xa129_ca61_49be_45e5)
    }

    /// The hash is of the bytes in order, however they were handed over.
    @Test func theHashIsOfTheBytesWhateverTheCalls() {
        let bytes: [UInt8] = Array(0..<40).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let whole = hash(bytes, key: paperKey)
        for split in [1, 3, 7, 8, 9, 16, 23] {
            var hasher = KeyedHasher(key: paperKey)
            bytes[..<split].withUnsafeBytes { hasher.combine(bytes: $0) }
            for byte in bytes[split..<min(split + 5, bytes.count)] { hasher.combine(byte) }
            bytes[min(split + 5, bytes.count)...].withUnsafeBytes { hasher.combine(bytes: $0) }
            #expect(hasher.finalize() == whole, "split at \(split)")
        }
        // An integer is its eight little-endian bytes, after any number of single bytes.
        for before in 0..<9 {
            let value = -0x1234_5678_9abc_def0
            var asInt = KeyedHasher(key: paperKey)
            var asBytes = KeyedHasher(key: paperKey)
            for byte in 0..<UInt8(before) {
                asInt.combine(byte)
                asBytes.combine(byte)
            }
            asInt.combine(value)
            withUnsafeBytes(of: Int64(value).littleEndian) { asBytes.combine(bytes: $0) }
            #expect(asInt.finalized == asBytes.finalized, "after \(before) bytes")
            #expect(asInt.finalize() == asBytes.finalize())
        }
    }

    /// Another key, another hash; the same key, the same hash in every process.
    @Test func theKeyDecides() {
        let bytes = Array("a line of plugin output".utf8)
        #expect(hash(bytes, key: paperKey) == hash(bytes, key: paperKey))
        #expect(hash(bytes, key: paperKey) != hash(bytes, key: (paperKey.0, paperKey.1 ^ 1)))
        #expect(hash(bytes, key: paperKey) != hash(bytes + [0], key: paperKey))
    }
}
