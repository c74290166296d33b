import Foundation
import ProvisionTestSupport
import Testing

/// The HTML rendered by a real browser engine (Debian's headless Chromium): on a desktop
/// screen, on a phone, and printed on A4 landscape.
@Suite("report rendering in Chromium", .serialized)
struct ReportRenderingTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    static func render(_ html: String, to output: String, arguments: [String]) async throws -> TestProcess.Result {
        let browser = try #require(chromium, "headless Chromium is installed by scripts/install-deps --for-tests")
        return try await TestProcess.run(
            browser,
            ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--disable-extensions",
             "--user-data-dir=\(output).profile"] + arguments + ["file://" + html])
    }

    @Test(arguments: [
        ["provision-map", "--school", "139001", "--term", "2026-autumn"],
        ["impact", "--term", "2025-autumn"],
        ["needs", "--term", "2026-autumn"],
        ["costs", "--term", "2026-autumn"],
        ["trust", "--term", "2026-autumn"],
    ])
    func eachReportDrawsOnAScreenAndAPhone(report: [String]) async throws {
        let trust = try await ReportFixture.shared.trust()
        let html = trust.folder + "/render-\(report[0]).html"
        let written = try await trust.report(report + ["--out", html])
        #expect(written.exitCode == 0, "\(written.standardError)")
        // Chromium rendered this report, not an error page: its DOM holds the report's title.
        let source = try String(contentsOfFile: html, encoding: .utf8)
        let title = try #require(source.components(separatedBy: "<h1>").dropFirst().first?.components(separatedBy: "</h1>").first)
        let dom = try await Self.render(html, to: html + ".dom", arguments: ["--dump-dom"])
        #expect(dom.standardOutput.contains("<h1>\(title)</h1>"), "\(dom.standardError.suffix(300))")
        for (label, size) in [("desktop", "1280,1600"), ("phone", "390,1200")] {
            let png = trust.folder + "/render-\(report[0])-\(label).png"
            let result = try await Self.render(html, to: png, arguments: ["--window-size=\(size)", "--screenshot=\(png)"])
            #expect(FileManager.default.fileExists(atPath: png), "\(result.standardError.suffix(500))")
            let image = try PNGImage(contentsOf: png)
            let expected = size.split(separator: ",").compactMap { Int($0) }
            #expect(image.width == expected[0] && image.height == expected[1], "\(label): \(image.width)×\(image.height)")
            #expect(image.inkedShare > 0.02, "\(label): the page is not blank (\(image.inkedShare))")
            #expect(image.distinctColours > 20, "\(label): text and shading, not a flat page")
        }
    }

    @Test func theProvisionMapPrintsOnA4Landscape() async throws {
        let trust = try await ReportFixture.shared.trust()
        let html = trust.folder + "/print-map.html"
        _ = try await trust.report(["provision-map", "--school", "139001", "--term", "2026-autumn", "--out", html])
        let pdf = trust.folder + "/print-map.pdf"
        let result = try await Self.render(html, to: pdf, arguments: ["--no-pdf-header-footer", "--print-to-pdf=\(pdf)"])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: pdf))
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("%PDF"), "\(result.standardError.suffix(500))")
        // A4 landscape is 842 × 595 points: every page of the PDF has that MediaBox.
        let boxes = text.components(separatedBy: "/MediaBox [").dropFirst().map { $0.prefix { $0 != "]" } }
        #expect(!boxes.isEmpty)
        for box in boxes {
            let numbers = box.split(separator: " ").compactMap { Double($0) }
            #expect(numbers.count == 4 && abs(numbers[2] - 842) < 1.5 && abs(numbers[3] - 595) < 1.5, "\(box)")
        }
    }
}
