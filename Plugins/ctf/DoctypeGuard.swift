import Foundation
import ImporterKit

/// Refuses a document that declares a DOCTYPE or entities, before any pupil is read.
///
/// FoundationXML on Linux never resolves external entities, but it silently drops
/// references to internal ones while still reporting success, and never calls the
/// entity-declaration delegate methods: a declaration cannot be caught through the parser.
/// CTF has no DTD, so any `<!…>` declaration before the root element (other than a
/// comment) is refused outright, by reading the bytes of the prolog.
enum DoctypeGuard {
    static func check(_ path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ImporterError("cannot open \(path)") }
        defer { try? handle.close() }
        var prolog: [UInt8] = []
        var index = 0
        func need(_ count: Int) throws -> Bool {
            while prolog.count < index + count {
                guard prolog.count < 4 << 20, let chunk = try handle.read(upToCount: 1 << 16), !chunk.isEmpty else { return false }
                prolog.append(contentsOf: chunk)
            }
            return true
        }
        func starts(_ text: String) throws -> Bool {
            let bytes = Array(text.utf8)
            guard try need(bytes.count) else { return false }
            return Array(prolog[index..<index + bytes.count]) == bytes
        }
        func skip(past terminator: String) throws {
            let bytes = Array(terminator.utf8)
            while try need(bytes.count) {
                if Array(prolog[index..<index + bytes.count]) == bytes {
                    index += bytes.count
                    return
                }
                index += 1
            }
        }
        while try need(1) {
            guard prolog[index] == UInt8(ascii: "<") else {
                index += 1
                continue
            }
            if try starts("<!--") {
                try skip(past: "-->")
            } else if try starts("<?") {
                try skip(past: "?>")
            } else if try starts("<!") {
                throw ImporterError(
                    "refusing \(URL(fileURLWithPath: path).lastPathComponent): it declares a DOCTYPE or entities before the root element. "
                        + "A CTF has neither; such a file is malformed or hostile (entity expansion). Ask the MIS to export it again.")
            } else {
                return  // the root element: the prolog is clean
            }
        }
    }
}
