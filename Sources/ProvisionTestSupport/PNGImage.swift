import CZlib
import Foundation

/// Just enough of PNG to check a screenshot: 8-bit RGB or RGBA, not interlaced (what
/// Chromium writes). Used to see that a rendered report is not blank.
public struct PNGImage: Sendable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// RGBA, row by row.
    public let pixels: [UInt8]

    /// A PNG this reader does not handle (or a file that is not one).
    public struct Unsupported: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads and decodes the PNG at `path`.
    public init(contentsOf path: String) throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        guard bytes.count > 33, bytes.prefix(8) == [137, 80, 78, 71, 13, 10, 26, 10] else {
            throw Unsupported(description: "\(path) is not a PNG file")
        }
        func u32(_ at: Int) -> Int { Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3]) }
        var offset = 8
        var width = 0, height = 0, colourType = 0
        var compressed: [UInt8] = []
        while offset + 8 <= bytes.count {
            let length = u32(offset)
            let type = String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self)
            let body = (offset + 8)..<min(bytes.count, offset + 8 + length)
            switch type {
            case "IHDR":
                width = u32(body.lowerBound)
                height = u32(body.lowerBound + 4)
                colourType = Int(bytes[body.lowerBound + 9])
                guard bytes[body.lowerBound + 8] == 8, bytes[body.lowerBound + 12] == 0, colourType == 2 || colourType == 6 else {
                    throw Unsupported(description: "only 8-bit, non-interlaced RGB(A) PNGs are read")
                }
            case "IDAT": compressed += bytes[body]
            default: break
            }
            offset += 12 + length
        }
        let channels = colourType == 6 ? 4 : 3
        let stride = width * channels
        var raw = [UInt8](repeating: 0, count: (stride + 1) * height)
        var rawLength = uLongf(raw.count)
        let status = raw.withUnsafeMutableBufferPointer { out in
            compressed.withUnsafeBufferPointer { input in
                uncompress(out.baseAddress, &rawLength, input.baseAddress, uLong(input.count))
            }
        }
        guard status == Z_OK, Int(rawLength) == raw.count else { throw Unsupported(description: "bad image data (zlib \(status))") }

        var rgba = [UInt8](repeating: 255, count: width * height * 4)
        var previous = [UInt8](repeating: 0, count: stride)
        var line = [UInt8](repeating: 0, count: stride)
        for row in 0..<height {
            let start = row * (stride + 1)
            let filter = raw[start]
            for index in 0..<stride {
                let x = raw[start + 1 + index]
                let a = index >= channels ? Int(line[index - channels]) : 0
                let b = Int(previous[index])
                let c = index >= channels ? Int(previous[index - channels]) : 0
                let predictor: Int
                switch filter {
                case 1: predictor = a
                case 2: predictor = b
                case 3: predictor = (a + b) / 2
                case 4:
                    let p = a + b - c
                    let pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                    predictor = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
                default: predictor = 0
                }
                line[index] = UInt8(truncatingIfNeeded: Int(x) + predictor)
            }
            for column in 0..<width {
                for channel in 0..<channels { rgba[(row * width + column) * 4 + channel] = line[column * channels + channel] }
            }
            swap(&previous, &line)
        }
        self.width = width
        self.height = height
        self.pixels = rgba
    }

    /// The share of pixels that are not (nearly) white.
    public var inkedShare: Double {
        var inked = 0
        for index in stride(from: 0, to: pixels.count, by: 4)
        where Int(pixels[index]) + Int(pixels[index + 1]) + Int(pixels[index + 2]) < 3 * 240 {
            inked += 1
        }
        return Double(inked) / Double(max(1, width * height))
    }

    /// How many distinct colours appear (text, tones, charts give many; a blank page one).
    public var distinctColours: Int {
        var seen = Set<UInt32>()
        for index in stride(from: 0, to: pixels.count, by: 4) {
            seen.insert(UInt32(pixels[index]) << 16 | UInt32(pixels[index + 1]) << 8 | UInt32(pixels[index + 2]))
            if seen.count > 10_000 { break }
        }
        return seen.count
    }
}
