import Foundation
import ProvisionModel

/// The report charts for the console's pages: inline SVG with no script, drawn from
/// attributes only (no style attributes, so a strict Content-Security-Policy allows them).
public enum Charts {
    /// One pupil's entry and exit in an intervention, with the months between them.
    public struct EntryExit: Sendable {
        /// The entry score.
        public var entry: Double
        /// The exit score.
        public var exit: Double
        /// Months between entry and exit assessments.
        public var months: Double

        /// A point.
        public init(entry: Double, exit: Double, months: Double) {
            self.entry = entry
            self.exit = exit
            self.months = months
        }
    }

    /// Entry (across) against exit (up), with the expected-progress line, as the impact
    /// report draws it.
    public static func entryExit(_ points: [EntryExit], measure: String, label: String) -> String {
        SVGChart.entryExit(points.map { SVGChart.EntryExit(entry: $0.entry, exit: $0.exit, months: $0.months) }, measure: measure, label: label)
    }

    /// One test's results over time.
    public struct Series: Sendable {
        /// What it measures, as a legend says it ("Salford reading age (months)").
        public var name: String
        /// (date, value), in any order.
        public var points: [(date: SchoolDate, value: Double)]

        /// A series called `name`.
        public init(name: String, points: [(date: SchoolDate, value: Double)]) {
            self.name = name
            self.points = points
        }
    }

    static let palette = ["#0b6e6e", "#c0392b", "#6b4fbb", "#b7791f", "#2b6cb0", "#4a5568"]

    /// Each series as a line of dots over time, one colour each, with a legend. Series on
    /// different scales share the axis: the page groups them by measure first.
    public static func resultsOverTime(_ series: [Series], label: String) -> String {
        let width = 640.0, height = 300.0
        let left = 56.0, right = 16.0, top = 16.0, bottom = 44.0 + Double(series.count) * 16
        let all = series.flatMap(\.points)
        guard let first = all.map({ $0.date.daysSince1970 }).min(), let last = all.map({ $0.date.daysSince1970 }).max() else { return "" }
        let span = Double(max(last - first, 1))
        var low = all.map(\.value).min() ?? 0, high = all.map(\.value).max() ?? 1
        if high - low < 1 { high = low + 1 }
        let pad = (high - low) * 0.1
        let (ticks, _) = SVGChart.niceTicks(low: low - pad, high: high + pad)
        low = min(low - pad, ticks.first ?? low)
        high = max(high + pad, ticks.last ?? high)
        func x(_ day: Int) -> Double { left + Double(day - first) / span * (width - left - right) }
        func y(_ value: Double) -> Double { top + (high - value) / (high - low) * (height - top - bottom) }
        func f(_ value: Double) -> String { String(format: "%.1f", value) }
        let total = height
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(Int(width)) \(Int(total))" role="img" \
            aria-label="\(HTMLRenderer.escape(label))" font-family="sans-serif" font-size="11">
            <title>\(HTMLRenderer.escape(label))</title>
            <rect x="\(f(left))" y="\(f(top))" width="\(f(width - left - right))" height="\(f(height - top - bottom))" fill="#fafbfc" stroke="#d0d7de"/>

            """
        for tick in ticks where tick >= low && tick <= high {
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(y(tick)))\" x2=\"\(f(width - right))\" y2=\"\(f(y(tick)))\" stroke=\"#eceff3\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y(tick) + 4))\" text-anchor=\"end\" fill=\"#4b5563\">\(tick.rounded() == tick ? String(Int(tick)) : String(format: "%.1f", tick))</text>\n"
        }
        let axisY = height - bottom
        if let start = all.map(\.date).min(), let end = all.map(\.date).max() {
            svg += "<text x=\"\(f(left))\" y=\"\(f(axisY + 14))\" fill=\"#4b5563\">\(start.iso)</text>"
            svg += "<text x=\"\(f(width - right))\" y=\"\(f(axisY + 14))\" text-anchor=\"end\" fill=\"#4b5563\">\(end.iso)</text>\n"
        }
        for (index, line) in series.enumerated() {
            let colour = palette[index % palette.count]
            let points = line.points.sorted { $0.date < $1.date }
            let path = points.map { "\(f(x($0.date.daysSince1970))),\(f(y($0.value)))" }.joined(separator: " ")
            svg += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.5\"/>"
            for point in points {
                svg += "<circle cx=\"\(f(x(point.date.daysSince1970)))\" cy=\"\(f(y(point.value)))\" r=\"3.5\" fill=\"\(colour)\">"
                svg += "<title>\(HTMLRenderer.escape(line.name)) \(point.date.iso): \(String(format: "%g", point.value))</title></circle>"
            }
            let legendY = axisY + 32 + Double(index) * 16
            svg += "<rect x=\"\(f(left))\" y=\"\(f(legendY - 9))\" width=\"10\" height=\"10\" fill=\"\(colour)\"/>"
            svg += "<text x=\"\(f(left + 16))\" y=\"\(f(legendY))\" fill=\"#1b1f24\">\(HTMLRenderer.escape(line.name))</text>\n"
        }
        return svg + "</svg>"
    }
}
