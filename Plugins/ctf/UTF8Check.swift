import Foundation
import ImporterKit

/// Finds where a file the parser will read as UTF-8 first holds bytes that are not UTF-8.
///
/// FoundationXML hands a comment's text to its delegate as UTF-8 it force-unwraps, so a
/// comment holding such bytes crashed the importer (signal 4) rather than failing the run
/// with a reason; the same bytes anywhere else are only a parse error ("error 9"). Every
/// such file is therefore read once, in chunks, before the parser sees it, and refused with
/// the line and column of the first bad byte.
enum UTF8Check {
    /// A place in the file: 1-based line, and character within it.
    struct Position: Equatable, CustomStringConvertible {
        let line: Int
        let column: Int
        var description: String { "line \(line), column \(column)" }
    }

    /// The position of the first byte sequence that is not UTF-8, or nil when the whole file is.
    static func firstInvalid(in path: String) throws -> Position? {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ImporterError("cannot open \(path)") }
        defer { try? handle.close() }
        var bytes = ChunkedBytes(handle: handle)
        var parser = Unicode.UTF8.ForwardParser()
        var position = Position(line: 1, column: 1)
        while true {
            switch parser.parseScalar(from: &bytes) {
            case .valid(let scalar):
                position = scalar.count == 1 && scalar.first == 0x0A
                    ? Position(line: position.line + 1, column: 1) : Position(line: position.line, column: position.column + 1)
            case .emptyInput:
                if let failure = bytes.failure { throw failure }
                return nil
            case .error:
                if let failure = bytes.failure { throw failure }
                return position
            }
        }
    }

    /// A file's bytes, read a mebibyte at a time.
    private struct ChunkedBytes: IteratorProtocol {
        let handle: FileHandle
        var chunk: [UInt8] = []
        var index = 0
        /// Why reading stopped early, if it did.
        var failure: (any Error)?

        mutating func next() -> UInt8? {
            if index == chunk.count {
                guard failure == nil else { return nil }
                do {
                    chunk = [UInt8](try handle.read(upToCount: 1 << 20) ?? Data())
                } catch {
                    failure = error
                    chunk = []
                }
                index = 0
                if chunk.isEmpty { return nil }
            }
            defer { index += 1 }
            return chunk[index]
        }
    }
}
