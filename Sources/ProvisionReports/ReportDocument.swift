import ProvisionModel

/// A report as a reader sees it, independent of format: a title, key figures, and
/// sections of text, tables and charts. The HTML renderer draws it; CSV and JSON come from
/// the report's own rows (``Report``).
public struct ReportDocument: Sendable {
    /// The report's title.
    public var title: String
    /// The line under it: school, term, date.
    public var subtitle: String
    /// Key figures shown at the top ("Pupils on SEN support: 41").
    public var facts: [(label: String, value: String)] = []
    /// The body, in reading order.
    public var sections: [Section] = []
    /// Shown under the title in small print: what the figures are based on.
    public var footnotes: [String] = []
    /// Prints on A4 portrait (a letter to a family) rather than landscape (a wide table).
    public var portrait = false

    /// An empty document with a title.
    public init(title: String, subtitle: String) {
        self.title = title
        self.subtitle = subtitle
    }

    /// A headed part of a report: paragraphs, then a table or a chart.
    public struct Section: Sendable {
        /// The section's heading.
        public var heading: String
        /// Paragraphs of plain text (escaped when drawn).
        public var paragraphs: [String] = []
        /// A table, if the section has one.
        public var table: Table?
        /// A complete `<svg>` element, built by ``SVGChart``.
        public var chart: String?

        /// A section with the given parts.
        public init(heading: String, paragraphs: [String] = [], table: Table? = nil, chart: String? = nil) {
            self.heading = heading
            self.paragraphs = paragraphs
            self.table = table
            self.chart = chart
        }
    }

    /// A table of cells.
    public struct Table: Sendable {
        /// The column headings.
        public var columns: [String]
        /// Columns holding numbers: right-aligned.
        public var numeric: Set<Int> = []
        /// The rows, each with one cell per column.
        public var rows: [[Cell]]
        /// A totals row, drawn bold at the foot.
        public var totals: [Cell]?

        /// A table with the given parts.
        public init(columns: [String], numeric: Set<Int> = [], rows: [[Cell]], totals: [Cell]? = nil) {
            self.columns = columns
            self.numeric = numeric
            self.rows = rows
            self.totals = totals
        }
    }

    /// One table cell: text, an optional tone (a verdict's colour, a heat-map shade).
    public struct Cell: Sendable, ExpressibleByStringLiteral {
        public var text: String
        /// How the cell is coloured, if at all.
        public var tone: Tone?

        /// A cell showing `text`.
        public init(_ text: String, tone: Tone? = nil) {
            self.text = text
            self.tone = tone
        }

        /// A plain cell from a string literal.
        public init(stringLiteral value: String) { self.init(value) }
    }

    /// A cell's colour: a verdict's, or a heat-map shade.
    public enum Tone: Sendable, Equatable {
        case good, bad, neutral, muted
        /// A heat-map shade, 0 (none) to 1 (most).
        case heat(Double)
    }
}

/// A finished report in all three formats' terms: the document for HTML, the flat table
/// for CSV (one header row, one row per line item) and the structured data for JSON.
public struct Report: Sendable {
    /// Which report this is.
    public let kind: ReportKind
    /// What the HTML renderer draws.
    public let document: ReportDocument
    /// The CSV header row.
    public let csvColumns: [String]
    /// The CSV rows, one per line item.
    public let csvRows: [[String]]
    /// The report as structured data.
    public let json: JSONValue
}

/// The reports `provisionctl report` writes (DESIGN §8).
public enum ReportKind: String, Sendable, CaseIterable {
    case provisionMap = "provision-map"
    case impact, needs, costs, pupil, trust
}

/// The formats a report is written in.
public enum ReportFormat: String, Sendable, CaseIterable {
    case html, csv, json
}

extension Report {
    /// The report in `format`, as bytes to write.
    public func rendered(_ format: ReportFormat) -> [UInt8] {
        switch format {
        case .html: Array(HTMLRenderer.render(document).utf8)
        case .csv: CSVRenderer.render(columns: csvColumns, rows: csvRows)
        case .json: Array((json.serialized + "\n").utf8)
        }
    }
}
