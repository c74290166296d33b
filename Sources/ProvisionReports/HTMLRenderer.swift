import Foundation
import ProvisionModel

/// One self-contained HTML file: inline CSS and SVG, no scripts, fonts or images from
/// elsewhere (a report may be opened offline, attached to an email or printed). Laid out
/// for A4 landscape on paper and a single column on a phone; wide tables scroll sideways
/// on screen and repeat their header on each printed page.
enum HTMLRenderer {
    static func render(_ document: ReportDocument) -> String {
        var html = """
            <!DOCTYPE html>
            <html lang="en-GB">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(document.title)) — \(escape(document.subtitle))</title>
            <style>\(document.portrait ? style.replacingOccurrences(of: "A4 landscape", with: "A4 portrait") : style)</style>
            </head>
            <body>
            <header>
            <h1>\(escape(document.title))</h1>
            <p class="subtitle">\(escape(document.subtitle))</p>
            </header>

            """
        if !document.facts.isEmpty {
            html += "<div class=\"facts\">"
            for fact in document.facts {
                html += "<div class=\"fact\"><b>\(escape(fact.value))</b>\(escape(fact.label))</div>"
            }
            html += "</div>\n"
        }
        for section in document.sections {
            html += "<section>\n<h2>\(escape(section.heading))</h2>\n"
            for paragraph in section.paragraphs { html += "<p>\(escape(paragraph))</p>\n" }
            if let chart = section.chart { html += "<figure>\(chart)</figure>\n" }
            if let table = section.table { html += render(table) }
            html += "</section>\n"
        }
        if !document.footnotes.isEmpty {
            html += "<footer>" + document.footnotes.map { "<p>\(escape($0))</p>" }.joined() + "</footer>\n"
        }
        return html + "</body>\n</html>\n"
    }

    static func render(_ table: ReportDocument.Table) -> String {
        var html = "<div class=\"scroll\"><table>\n<thead><tr>"
        for (index, column) in table.columns.enumerated() {
            html += "<th\(table.numeric.contains(index) ? " class=\"num\"" : "")>\(escape(column))</th>"
        }
        html += "</tr></thead>\n<tbody>\n"
        for row in table.rows { html += "<tr>" + cells(row, numeric: table.numeric) + "</tr>\n" }
        html += "</tbody>\n"
        if let totals = table.totals { html += "<tfoot><tr>" + cells(totals, numeric: table.numeric) + "</tr></tfoot>\n" }
        return html + "</table></div>\n"
    }

    private static func cells(_ row: [ReportDocument.Cell], numeric: Set<Int>) -> String {
        row.enumerated().map { index, cell in
            var classes: [String] = []
            if numeric.contains(index) { classes.append("num") }
            var style = ""
            switch cell.tone {
            case .good: classes.append("good")
            case .bad: classes.append("bad")
            case .neutral: classes.append("neutral")
            case .muted: classes.append("muted")
            case .heat(let share):
                let clamped = min(max(share, 0), 1)
                // White to a deep teal; text turns white on the darkest shades.
                let red = Int(255 - clamped * 215), green = Int(255 - clamped * 125), blue = Int(255 - clamped * 115)
                style = " style=\"background:rgb(\(red),\(green),\(blue))\(clamped > 0.6 ? ";color:#fff" : "")\""
            case nil: break
            }
            let classAttribute = classes.isEmpty ? "" : " class=\"\(classes.joined(separator: " "))\""
            return "<td\(classAttribute)\(style)>\(escape(cell.text))</td>"
        }.joined()
    }

    /// Escapes text for HTML content and attribute values.
    static func escape(_ text: String) -> String { HTMLText.escaped(text) }

    static let style = """
        @page { size: A4 landscape; margin: 12mm; }
        * { box-sizing: border-box; }
        body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
               color: #1b1f24; background: #fff; margin: 0 auto; max-width: 1280px; padding: 20px; }
        h1 { font-size: 1.6em; margin: 0 0 2px; }
        h2 { font-size: 1.2em; margin: 1.4em 0 0.4em; border-bottom: 2px solid #0b6e6e; padding-bottom: 2px; }
        .subtitle { color: #4b5563; margin: 0 0 12px; }
        .facts { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0 4px; }
        .fact { border: 1px solid #d0d7de; border-radius: 6px; padding: 6px 12px; min-width: 9em; color: #4b5563; }
        .fact b { display: block; font-size: 1.35em; color: #1b1f24; }
        .scroll { overflow-x: auto; }
        table { border-collapse: collapse; width: 100%; font-size: 0.92em; }
        th, td { border-bottom: 1px solid #e5e7eb; padding: 4px 6px; text-align: left; vertical-align: top; }
        /* A plan's strategies or a target written over several lines keeps its lines. */
        section p, td { white-space: pre-line; }
        th { background: #eef2f5; font-weight: 600; }
        .num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
        tfoot td { font-weight: 700; border-top: 2px solid #9ca3af; }
        .good { background: #dcf2e1; } .bad { background: #fadbd8; } .neutral { background: #fdf3d0; }
        .muted { color: #6b7280; }
        figure { margin: 8px 0; } svg { max-width: 100%; height: auto; }
        footer { margin-top: 2em; color: #6b7280; font-size: 0.85em; }
        @media (max-width: 640px) {
          body { padding: 10px; font-size: 13px; } .fact { min-width: 45%; }
          .scroll > table { min-width: 860px; }  /* wide tables scroll sideways rather than squeeze */
        }
        @media print {
          body { max-width: none; padding: 0; font-size: 9.5pt; }
          .scroll { overflow: visible; }
          thead { display: table-header-group; }
          tr, figure { break-inside: avoid; }
          h2 { break-after: avoid; }
        }
        """
}
