import ProvisionModel

/// A report as a reader sees it, independent of format: a title, key figures, and
/// sections of text, tables and charts. The HTML renderer draws it; CSV and JSON come from
/// the report's own rows (``Report``).
public struct ReportDocument: Sendable {
    public var title: String
    public var subtitle: String
    /// Key figures shown at the top ("Pupils on SEN support: 41").
    public var facts: [(label: String, value: String)] = []
    public var sections: [Section] = []
    /// Shown under the title in small print: what the figures are based on.
    public var footnotes: [String] = []
    /// Prints on A4 portrait (a letter to a family) rather than landscape (a wide table).
    public var portrait = false

    public init(title: String, subtitle: String) {
        self.title = title
        self.subtitle = subtitle
    }

    public struct Section: Sendable {
        public var heading: String
        public var paragraphs: [String] = []
        public var table: Table?
        /// A complete `<svg>` element, built by ``SVGChart``.
        public var chart: String?

        public init(heading: String, paragraphs: [String] = [], table: Table? = nil, chart: String? = nil) {
            self.heading = heading
            self.paragraphs = paragraphs
            self.table = table
            self.chart = chart
        }
    }

    public struct Table: Sendable {
        public var columns: [String]
        /// Columns holding numbers: right-aligned.
        public var numeric: Set<Int> = []
        public var rows: [[Cell]]
        /// A totals row, drawn bold at the foot.
        public var totals: [Cell]?

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
        public var tone: Tone?

        public init(_ text: String, tone: Tone? = nil) {
            self.text = text
            self.tone = tone
        }

        public init(stringLiteral value: String) { self.init(value) }
    }

    public enum Tone: Sendable, Equatable {
        case good, bad, neutral, muted
        /// A heat-map shade, 0 (none) to 1 (most).
        case heat(Double)
    }
}

/// A finished report in all three formats' terms: the document for HTML, the flat table
/// for CSV (one header row, one row per line item) and the structured data for JSON.
public struct Report: Sendable {
    public let kind: ReportKind
    public let document: ReportDocument
    public let csvColumns: [String]
    public let csvRows: [[String]]
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
