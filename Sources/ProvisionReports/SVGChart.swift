import Foundation

/// Inline SVG charts. Drawn by hand because they are simple and must work with no script
/// and print sharply.
enum SVGChart {
    struct EntryExit {
        var entry: Double
        var exit: Double
        /// Months between the entry and exit assessments.
        var months: Double
    }

    /// Each pupil's entry (across) against exit (up), with the expected-progress line: for
    /// an age-equivalent measure exit = entry + the months that passed (a ratio gain of 1);
    /// for a standardised score exit = entry (keeping pace with peers). Pupils above the
    /// line made more than expected progress.
    static func entryExit(_ points: [EntryExit], measure: String, label: String) -> String {
        let width = 640.0, height = 380.0
        let left = 56.0, right = 16.0, top = 16.0, bottom = 44.0
        let ageMeasure = measure == "age_months"
        let meanMonths = points.isEmpty ? 0 : points.map(\.months).reduce(0, +) / Double(points.count)
        let shift = ageMeasure ? meanMonths : 0
        let values = points.flatMap { [$0.entry, $0.exit] }
        var low = (values.min() ?? 0), high = (values.max() ?? 1)
        if high - low < 1 { high = low + 1 }
        let pad = (high - low) * 0.08
        low -= pad
        high += pad
        let (ticks, _) = niceTicks(low: low, high: high)
        low = min(low, ticks.first ?? low)
        high = max(high, ticks.last ?? high)
        func x(_ value: Double) -> Double { left + (value - low) / (high - low) * (width - left - right) }
        func y(_ value: Double) -> Double { height - bottom - (value - low) / (high - low) * (height - top - bottom) }
        func f(_ value: Double) -> String { String(format: "%.1f", value) }

        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(Int(width)) \(Int(height))" width="\(Int(width))" \
            height="\(Int(height))" role="img" aria-label="\(HTMLRenderer.escape(label))" font-family="sans-serif" font-size="11">
            <title>\(HTMLRenderer.escape(label))</title>
            <rect x="\(f(left))" y="\(f(top))" width="\(f(width - left - right))" height="\(f(height - top - bottom))" fill="#fafbfc" stroke="#d0d7de"/>

            """
        for tick in ticks {
            svg += "<line x1=\"\(f(x(tick)))\" y1=\"\(f(top))\" x2=\"\(f(x(tick)))\" y2=\"\(f(height - bottom))\" stroke=\"#eceff3\"/>"
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(y(tick)))\" x2=\"\(f(width - right))\" y2=\"\(f(y(tick)))\" stroke=\"#eceff3\"/>"
            svg += "<text x=\"\(f(x(tick)))\" y=\"\(f(height - bottom + 14))\" text-anchor=\"middle\" fill=\"#4b5563\">\(tickLabel(tick))</text>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y(tick) + 4))\" text-anchor=\"end\" fill=\"#4b5563\">\(tickLabel(tick))</text>\n"
        }
        // Expected progress, clipped to the plot.
        let lineStart = max(low, low - shift), lineEnd = min(high, high - shift)
        svg += """
            <line x1="\(f(x(lineStart)))" y1="\(f(y(lineStart + shift)))" x2="\(f(x(lineEnd)))" y2="\(f(y(lineEnd + shift)))" \
            stroke="#0b6e6e" stroke-width="1.5" stroke-dasharray="6 4"/>
            <text x="\(f(x(lineEnd) - 4))" y="\(f(y(lineEnd + shift) - 6))" text-anchor="end" fill="#0b6e6e">expected progress\
            \(ageMeasure ? " (+\(String(format: "%.0f", meanMonths)) months)" : "")</text>

            """
        for point in points {
            let above = point.exit - point.entry >= (ageMeasure ? point.months : 0)
            svg += "<circle cx=\"\(f(x(point.entry)))\" cy=\"\(f(y(point.exit)))\" r=\"4.5\" fill=\"\(above ? "#0b6e6e" : "#c0392b")\" fill-opacity=\"0.75\" stroke=\"#fff\" stroke-width=\"0.8\"/>"
        }
        let unit = ageMeasure ? "months" : "score"
        svg += """

            <text x="\(f(left + (width - left - right) / 2))" y="\(f(height - 8))" text-anchor="middle" fill="#1b1f24">entry (\(unit))</text>
            <text transform="translate(14 \(f(top + (height - top - bottom) / 2))) rotate(-90)" text-anchor="middle" fill="#1b1f24">exit (\(unit))</text>
            </svg>
            """
        return svg
    }

    /// Round tick values (1, 2 or 5 times a power of ten) covering low…high in about five steps.
    static func niceTicks(low: Double, high: Double) -> ([Double], Double) {
        let rough = (high - low) / 5
        let power = pow(10, floor(log10(rough)))
        let step = [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= rough } ?? 10 * power
        var ticks: [Double] = []
        var tick = floor(low / step) * step
        while tick <= high + step * 0.001 {
            ticks.append(tick)
            tick += step
        }
        return (ticks, step)
    }

    private static func tickLabel(_ value: Double) -> String {
        value.rounded() == value ? String(Int(value)) : String(format: "%.1f", value)
    }
}
