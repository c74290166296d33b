import Foundation
@testable import ProvisionConsole
import ProvisionTestSupport
import Testing

/// The QR encoder, read back by an independent decoder: zbar's `zbarimg` (Debian's
/// zbar-tools, installed by scripts/install-deps --for-tests).
@Suite struct QRCodeTests {
    /// Writes the code as a binary PGM (4 pixels a module, 4 modules of quiet zone) and
    /// returns what zbarimg reads from it.
    static func decode(_ matrix: [[Bool]]) async throws -> String {
        let scale = 4, quiet = 4
        let size = (matrix.count + 2 * quiet) * scale
        var pixels = [UInt8](repeating: 255, count: size * size)
        for (y, row) in matrix.enumerated() {
            for (x, dark) in row.enumerated() where dark {
                for dy in 0..<scale {
                    for dx in 0..<scale { pixels[((y + quiet) * scale + dy) * size + (x + quiet) * scale + dx] = 0 }
                }
            }
        }
        let folder = try TestProcess.temporaryDirectory("qr")
        let path = folder + "/code.pgm"
        try (Data("P5\n\(size) \(size)\n255\n".utf8) + Data(pixels)).write(to: URL(fileURLWithPath: path))
        let result = try await TestProcess.run("/usr/bin/zbarimg", ["--raw", "-q", "-Sbinary", path])
        #expect(result.exitCode == 0, "zbarimg: \(result.standardError)")
        return result.standardOutput.hasSuffix("\n") ? String(result.standardOutput.dropLast()) : result.standardOutput
    }

    @Test(arguments: [
        "A",
        "otpauth://totp/Fen%20Learning%20Trust:send.lead@fentrust.example?secret=GQYTENKMGJTFIVTYLBSEW4DZL42VO4CJG53V6QZXGJCDGRDLJ5IA&issuer=Fen%20Learning%20Trust",
        String(repeating: "0123456789abcdef", count: 20),
        String(repeating: "x", count: 660),
    ])
    func decodesToWhatWasEncoded(_ text: String) async throws {
        let matrix = try #require(QRCode.encode(Array(text.utf8)))
        #expect(matrix.count == matrix.first?.count)
        #expect(try await Self.decode(matrix) == text)
    }

    @Test(arguments: 0..<8)
    func everyMaskDecodes(_ mask: Int) async throws {
        let text = "otpauth://totp/Test:senco@school.example?secret=JBSWY3DPEHPK3PXP&issuer=Test"
        let matrix = try #require(QRCode.encode(Array(text.utf8), mask: mask))
        #expect(try await Self.decode(matrix) == text)
    }

    @Test func refusesWhatDoesNotFitVersion20() {
        #expect(QRCode.encode(Array(repeating: 0x41, count: 667)) == nil)
        #expect(QRCode.svg(for: String(repeating: "x", count: 667)) == nil)
    }

    @Test func svgDrawsEveryDarkModule() throws {
        let text = "hello"
        let matrix = try #require(QRCode.encode(Array(text.utf8)))
        let svg = try #require(QRCode.svg(for: text))
        let drawn = svg.components(separatedBy: "h").dropFirst().compactMap { Int($0.prefix { $0.isNumber }) }.reduce(0, +)
        #expect(drawn == matrix.joined().filter { $0 }.count)
        #expect(!svg.contains("style="))
    }
}
