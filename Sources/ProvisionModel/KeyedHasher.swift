/// SipHash with a key of the caller's: the hash Swift's `Hasher` computes (SipHash-1-3), but
/// the same in every process that holds the key, so hashes written by one run can be
/// compared with those of the next (`Hasher` is seeded afresh in each process). Without the
/// key, nobody can make two inputs hash alike on purpose.
///
/// Values are taken as `Hasher` takes them: an integer as its 8 little-endian bytes, bytes as
/// they are; the hash is of the bytes in order, whatever the calls that gave them.
public struct KeyedHasher: Sendable {
    private var v0: UInt64
    private var v1: UInt64
    private var v2: UInt64
    private var v3: UInt64
    /// Bytes taken but not yet compressed (fewer than 8), in the low bytes first.
    private var tail: UInt64 = 0
    private var tailCount = 0
    private var length = 0
    private let compressionRounds: Int
    private let finalizationRounds: Int

    /// A hasher keyed by `key`. `rounds` (1, 3) is SipHash-1-3, as `Hasher`; (2, 4) is
    /// SipHash-2-4, whose published test vectors check this implementation.
    public init(key: (UInt64, UInt64), rounds: (compression: Int, finalization: Int) = (1, 3)) {
        v0 = key.0 ^ 0x736f_6d65_7073_6575
        v1 = key.1 ^ 0x646f_7261_6e64_6f6d
        v2 = key.0 ^ 0x6c79_6765_6e65_7261
        v3 = key.1 ^ 0x7465_6462_7974_6573
        compressionRounds = rounds.compression
        finalizationRounds = rounds.finalization
    }

    /// Takes `value` as its 8 little-endian bytes.
    public mutating func combine(_ value: Int) {
        combine(word: UInt64(bitPattern: Int64(value)))
    }

    /// Takes one byte.
    public mutating func combine(_ value: UInt8) {
        append(UInt64(value), count: 1)
    }

    /// Takes `bytes` in order: whole words straight from memory, then the last few at once.
    public mutating func combine(bytes: UnsafeRawBufferPointer) {
        var index = 0
        while index + 8 <= bytes.count {
            combine(word: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)))
            index += 8
        }
        guard index < bytes.count else { return }
        var last: UInt64 = 0
        for offset in 0..<(bytes.count - index) { last |= UInt64(bytes[index + offset]) << UInt64(8 * offset) }
        append(last, count: bytes.count - index)
    }

    /// The hash of everything taken.
    public consuming func finalize() -> Int {
        compress(tail | UInt64(truncatingIfNeeded: length) << 56)
        v2 ^= 0xff
        for _ in 0..<finalizationRounds { round() }
        return Int(Int64(bitPattern: v0 ^ v1 ^ v2 ^ v3))
    }

    /// The hash of everything taken so far, leaving this hasher to take more.
    public var finalized: Int {
        let copy = self
        return copy.finalize()
    }

    private mutating func combine(word: UInt64) {
        if tailCount == 0 {
            compress(word)
        } else {
            // Spread across the part-filled word and the next.
            let shift = UInt64(8 * tailCount)
            compress(tail | word << shift)
            tail = word >> (64 - shift)
        }
        length += 8
    }

    /// Takes the low `count` (1 to 7) bytes of `bytes`.
    @inline(__always)
    private mutating func append(_ bytes: UInt64, count: Int) {
        length += count
        let shift = UInt64(8 * tailCount)
        tailCount += count
        guard tailCount >= 8 else {
            tail |= bytes << shift
            return
        }
        compress(tail | bytes << shift)
        tailCount -= 8
        // The bytes that did not fit (none when the word was empty: a shift by 64 is not one).
        tail = shift == 0 ? 0 : bytes >> (64 - shift)
    }

    @inline(__always)
    private mutating func compress(_ word: UInt64) {
        v3 ^= word
        round()
        // SipHash-1-3 (every use but the test vectors') takes one round.
        for _ in 1..<compressionRounds { round() }
        v0 ^= word
    }

    @inline(__always)
    private mutating func round() {
        v0 &+= v1
        v1 = v1.rotatedLeft(13)
        v1 ^= v0
        v0 = v0.rotatedLeft(32)
        v2 &+= v3
        v3 = v3.rotatedLeft(16)
        v3 ^= v2
        v0 &+= v3
        v3 = v3.rotatedLeft(21)
        v3 ^= v0
        v2 &+= v1
        v1 = v1.rotatedLeft(17)
        v1 ^= v2
        v2 = v2.rotatedLeft(32)
    }
}

extension UInt64 {
    @inline(__always)
    fileprivate func rotatedLeft(_ count: UInt64) -> UInt64 {
        (self << count) | (self >> (64 - count))
    }
}
