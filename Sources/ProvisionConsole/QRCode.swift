/// QR codes (ISO/IEC 18004) for the second factor's `otpauth://` address, so a phone's
/// authenticator app can scan it. No QR library is in the package mirror, and the subset
/// needed is small: byte mode, error correction level M, versions 1–20 (up to 666 bytes),
/// all eight masks scored by the standard's penalty rules. Drawn as SVG rectangles (no
/// script, no style attribute). The tests decode what it draws with zbar, an independent
/// reader (QRCodeTests).
enum QRCode {
    /// The code for `text` as an SVG image, or nil when the text is too long for version 20.
    static func svg(for text: String) -> String? {
        guard let matrix = encode(Array(text.utf8)) else { return nil }
        let quiet = 4
        let size = matrix.count + 2 * quiet
        var path = ""
        for (y, row) in matrix.enumerated() {
            var x = 0
            while x < row.count {
                guard row[x] else {
                    x += 1
                    continue
                }
                var run = 1
                while x + run < row.count && row[x + run] { run += 1 }
                path += "M\(x + quiet) \(y + quiet)h\(run)v1h-\(run)z"
                x += run
            }
        }
        return """
            <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(size) \(size)" width="\(size * 6)" height="\(size * 6)" \
            shape-rendering="crispEdges" role="img" aria-label="QR code of the authenticator key">\
            <rect width="\(size)" height="\(size)" fill="#fff"/><path d="\(path)" fill="#000"/></svg>
            """
    }

    /// Level M blocks per version: (EC codewords per block, [(blocks, data codewords each)]).
    static let blocks: [(ec: Int, groups: [(count: Int, data: Int)])] = [
        (10, [(1, 16)]), (16, [(1, 28)]), (26, [(1, 44)]), (18, [(2, 32)]), (24, [(2, 43)]),
        (16, [(4, 27)]), (18, [(4, 31)]), (22, [(2, 38), (2, 39)]), (22, [(3, 36), (2, 37)]), (26, [(4, 43), (1, 44)]),
        (30, [(1, 50), (4, 51)]), (22, [(6, 36), (2, 37)]), (22, [(8, 37), (1, 38)]), (24, [(4, 40), (5, 41)]),
        (24, [(5, 41), (5, 42)]), (28, [(7, 45), (3, 46)]), (28, [(10, 46), (1, 47)]), (26, [(9, 43), (4, 44)]),
        (26, [(3, 44), (11, 45)]), (26, [(3, 41), (13, 42)]),
    ]

    static let alignment: [[Int]] = [
        [], [6, 18], [6, 22], [6, 26], [6, 30], [6, 34], [6, 22, 38], [6, 24, 42], [6, 26, 46], [6, 28, 50],
        [6, 30, 54], [6, 32, 58], [6, 34, 62], [6, 26, 46, 66], [6, 26, 48, 70], [6, 26, 50, 74], [6, 30, 54, 78],
        [6, 30, 56, 82], [6, 30, 58, 86], [6, 34, 62, 90],
    ]

    /// The module matrix (true = dark) for `bytes`, with the best-scoring mask.
    static func encode(_ bytes: [UInt8], mask forcedMask: Int? = nil) -> [[Bool]]? {
        guard let version = (1...20).first(where: { capacity($0) * 8 >= 4 + ($0 < 10 ? 8 : 16) + bytes.count * 8 }) else { return nil }
        let codewords = interleave(data(bytes, version: version), version: version)
        var best: (score: Int, matrix: [[Bool]])?
        for mask in forcedMask.map({ [$0] }) ?? Array(0..<8) {
            var grid = Grid(version: version)
            grid.place(codewords, mask: mask)
            grid.drawFormat(mask: mask)
            let score = grid.penalty()
            if let current = best, current.score <= score { continue }
            best = (score, grid.dark)
        }
        return best?.matrix
    }

    static func capacity(_ version: Int) -> Int {
        blocks[version - 1].groups.reduce(0) { $0 + $1.count * $1.data }
    }

    /// Mode, length, the bytes, terminator and padding: the data codewords.
    static func data(_ bytes: [UInt8], version: Int) -> [UInt8] {
        var bits: [Bool] = []
        func append(_ value: Int, _ count: Int) {
            for shift in stride(from: count - 1, through: 0, by: -1) { bits.append((value >> shift) & 1 == 1) }
        }
        append(0b0100, 4)
        append(bytes.count, version < 10 ? 8 : 16)
        for byte in bytes { append(Int(byte), 8) }
        let total = capacity(version) * 8
        append(0, min(4, total - bits.count))
        while bits.count % 8 != 0 { bits.append(false) }
        var result: [UInt8] = stride(from: 0, to: bits.count, by: 8).map { start in
            bits[start..<start + 8].reduce(0) { $0 << 1 | ($1 ? 1 : 0) }
        }
        var pad: [UInt8] = [0xEC, 0x11]
        while result.count < capacity(version) {
            result.append(pad[0])
            pad.swapAt(0, 1)
        }
        return result
    }

    /// Splits data into blocks, adds each block's Reed–Solomon codewords and interleaves them.
    static func interleave(_ data: [UInt8], version: Int) -> [UInt8] {
        let layout = blocks[version - 1]
        var dataBlocks: [[UInt8]] = []
        var offset = 0
        for group in layout.groups {
            for _ in 0..<group.count {
                dataBlocks.append(Array(data[offset..<offset + group.data]))
                offset += group.data
            }
        }
        let ecBlocks = dataBlocks.map { ReedSolomon.remainder($0, degree: layout.ec) }
        var result: [UInt8] = []
        for index in 0..<(dataBlocks.map(\.count).max() ?? 0) {
            for block in dataBlocks where index < block.count { result.append(block[index]) }
        }
        for index in 0..<layout.ec {
            for block in ecBlocks { result.append(block[index]) }
        }
        return result
    }

    /// The module grid: function patterns first, then data in the zig-zag order.
    struct Grid {
        let version: Int
        let size: Int
        var dark: [[Bool]]
        var reserved: [[Bool]]

        init(version: Int) {
            self.version = version
            size = 17 + 4 * version
            dark = Array(repeating: Array(repeating: false, count: size), count: size)
            reserved = dark
            for (x, y) in [(0, 0), (size - 7, 0), (0, size - 7)] { drawFinder(x, y) }
            for index in 8..<(size - 8) {
                set(index, 6, index % 2 == 0)
                set(6, index, index % 2 == 0)
            }
            let centres = QRCode.alignment[version - 1]
            let last = centres.count - 1
            for (row, cy) in centres.enumerated() {
                // Not where the finder patterns are (three corners of the grid of centres).
                for (column, cx) in centres.enumerated()
                where !((row == 0 && column == 0) || (row == 0 && column == last) || (row == last && column == 0)) {
                    for dy in -2...2 {
                        for dx in -2...2 { set(cx + dx, cy + dy, max(abs(dx), abs(dy)) != 1) }
                    }
                }
            }
            // The format areas are reserved now and drawn once the mask is chosen.
            for index in 0..<9 {
                reserved[8][index] = true
                reserved[index][8] = true
            }
            for index in 0..<8 {
                reserved[8][size - 1 - index] = true
                reserved[size - 1 - index][8] = true
            }
            set(8, size - 8, true)  // the dark module
            if version >= 7 { drawVersion() }
        }

        mutating func set(_ x: Int, _ y: Int, _ value: Bool) {
            dark[y][x] = value
            reserved[y][x] = true
        }

        mutating func drawFinder(_ left: Int, _ top: Int) {
            for dy in -1...7 {
                for dx in -1...7 {
                    let x = left + dx, y = top + dy
                    guard x >= 0, y >= 0, x < size, y < size else { continue }
                    let ring = max(abs(dx - 3), abs(dy - 3))
                    set(x, y, ring != 2 && ring != 4)
                }
            }
        }

        mutating func drawVersion() {
            var remainder = version
            for _ in 0..<12 { remainder = (remainder << 1) ^ ((remainder >> 11) * 0x1F25) }
            let bits = version << 12 | remainder
            for index in 0..<18 {
                let bit = (bits >> index) & 1 == 1
                let a = size - 11 + index % 3, b = index / 3
                set(a, b, bit)
                set(b, a, bit)
            }
        }

        mutating func drawFormat(mask: Int) {
            let data = 0b00 << 3 | mask  // level M is 00
            var remainder = data
            for _ in 0..<10 { remainder = (remainder << 1) ^ ((remainder >> 9) * 0x537) }
            let bits = (data << 10 | remainder) ^ 0x5412
            func bit(_ index: Int) -> Bool { (bits >> index) & 1 == 1 }
            for index in 0...5 { set(8, index, bit(index)) }
            set(8, 7, bit(6))
            set(8, 8, bit(7))
            set(7, 8, bit(8))
            for index in 9..<15 { set(14 - index, 8, bit(index)) }
            for index in 0..<8 { set(size - 1 - index, 8, bit(index)) }
            for index in 8..<15 { set(8, size - 15 + index, bit(index)) }
            set(8, size - 8, true)
        }

        mutating func place(_ codewords: [UInt8], mask: Int) {
            var bitIndex = 0
            let totalBits = codewords.count * 8
            var right = size - 1
            while right >= 1 {
                if right == 6 { right = 5 }
                for vertical in 0..<size {
                    for column in 0..<2 {
                        let x = right - column
                        let upward = (right + 1) & 2 == 0
                        let y = upward ? size - 1 - vertical : vertical
                        guard !reserved[y][x] else { continue }
                        var value = false
                        if bitIndex < totalBits {
                            value = (codewords[bitIndex >> 3] >> (7 - UInt8(bitIndex & 7))) & 1 == 1
                            bitIndex += 1
                        }
                        if QRCode.masked(mask, x, y) { value.toggle() }
                        dark[y][x] = value
                    }
                }
                right -= 2
            }
        }

        /// The standard's four penalty rules: runs, 2×2 blocks, finder-like patterns, balance.
        func penalty() -> Int {
            var score = 0
            func runs(_ line: [Bool]) -> Int {
                var total = 0, run = 1
                for index in 1..<line.count {
                    if line[index] == line[index - 1] {
                        run += 1
                    } else {
                        if run >= 5 { total += run - 2 }
                        run = 1
                    }
                }
                return total + (run >= 5 ? run - 2 : 0)
            }
            func finderLike(_ line: [Bool]) -> Int {
                let pattern: [Bool] = [true, false, true, true, true, false, true]
                var count = 0
                for start in 0...(line.count - 7) where Array(line[start..<start + 7]) == pattern {
                    let before = start >= 4 && !line[(start - 4)..<start].contains(true)
                    let after = start + 11 <= line.count && !line[(start + 7)..<(start + 11)].contains(true)
                    if before || after { count += 1 }
                }
                return count * 40
            }
            let columns = (0..<size).map { x in dark.map { $0[x] } }
            for line in dark + columns { score += runs(line) + finderLike(line) }
            for y in 0..<(size - 1) {
                for x in 0..<(size - 1) {
                    let value = dark[y][x]
                    if dark[y][x + 1] == value && dark[y + 1][x] == value && dark[y + 1][x + 1] == value { score += 3 }
                }
            }
            let darkCount = dark.reduce(0) { $0 + $1.filter { $0 }.count }
            let percent = darkCount * 100 / (size * size)
            score += abs(percent - 50) / 5 * 10
            return score
        }
    }

    static func masked(_ mask: Int, _ x: Int, _ y: Int) -> Bool {
        switch mask {
        case 0: return (x + y) % 2 == 0
        case 1: return y % 2 == 0
        case 2: return x % 3 == 0
        case 3: return (x + y) % 3 == 0
        case 4: return (y / 2 + x / 3) % 2 == 0
        case 5: return (x * y) % 2 + (x * y) % 3 == 0
        case 6: return ((x * y) % 2 + (x * y) % 3) % 2 == 0
        default: return ((x + y) % 2 + (x * y) % 3) % 2 == 0
        }
    }
}

/// Reed–Solomon error correction over GF(2⁸) with the QR polynomial x⁸+x⁴+x³+x²+1.
enum ReedSolomon {
    static let (exp, log): ([UInt8], [Int]) = {
        var exp = [UInt8](repeating: 0, count: 512)
        var log = [Int](repeating: 0, count: 256)
        var value = 1
        for power in 0..<255 {
            exp[power] = UInt8(value)
            log[value] = power
            value <<= 1
            if value & 0x100 != 0 { value ^= 0x11D }
        }
        for power in 255..<512 { exp[power] = exp[power - 255] }
        return (exp, log)
    }()

    static func multiply(_ a: UInt8, _ b: UInt8) -> UInt8 {
        a == 0 || b == 0 ? 0 : exp[log[Int(a)] + log[Int(b)]]
    }

    /// The generator polynomial of `degree`, highest power first without its leading 1.
    static func generator(_ degree: Int) -> [UInt8] {
        var polynomial: [UInt8] = [1]
        for root in 0..<degree {
            var next = [UInt8](repeating: 0, count: polynomial.count + 1)
            for (index, coefficient) in polynomial.enumerated() {
                next[index] ^= coefficient
                next[index + 1] ^= multiply(coefficient, exp[root])
            }
            polynomial = next
        }
        return Array(polynomial.dropFirst())
    }

    /// The `degree` error-correction codewords of `data`.
    static func remainder(_ data: [UInt8], degree: Int) -> [UInt8] {
        let generator = generator(degree)
        var remainder = [UInt8](repeating: 0, count: degree)
        for byte in data {
            let factor = byte ^ remainder[0]
            remainder.removeFirst()
            remainder.append(0)
            for index in 0..<degree { remainder[index] ^= multiply(generator[index], factor) }
        }
        return remainder
    }
}
