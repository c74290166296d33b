import Foundation
import ProvisionModel

/// Writes protocol-v1 NDJSON to stdout for a built-in importer: the header, records, error
/// records and the closing `end` with counts that match what was written.
///
/// Output is buffered and flushed in 64 KiB writes; nothing but records goes to stdout.
public final class RecordWriter {
    private var buffer: [UInt8] = []
    private var counts: [String: Int] = [:]
    private let output: FileHandle

    /// Starts the output with a header naming `plugin`.
    public init(plugin: String, sourceKind: String = "snapshot", output: FileHandle = .standardOutput) {
        self.output = output
        buffer.reserveCapacity(1 << 16)
        emit(.object(["type": .string("header"), "protocol": .number(1), "plugin": .string(plugin), "source_kind": .string(sourceKind)]))
    }

    /// Writes one record of `type` with `fields` (nil values are left out).
    ///
    /// Written from its members sorted by key, as `JSONValue.object` writes itself: building
    /// that object first hashed every key twice more per record, a fifth of an importer's time.
    public func record(_ type: String, _ fields: [String: JSONValue?]) {
        var members: [(key: String, value: JSONValue)] = []
        members.reserveCapacity(fields.count + 1)
        for (key, value) in fields { if let value { members.append((key, value)) } }
        if !members.contains(where: { $0.key == "type" }) { members.append(("type", .string(type))) }
        members.sort { $0.key < $1.key }
        counts[type, default: 0] += 1
        JSONValue.writeObject(members, to: &buffer)
        endLine()
    }

    /// Writes an `error` record: something in the source that could not be read.
    /// `ref` says where (file, line, element path); the message must not hold pupil data.
    public func error(_ message: String, ref: String) {
        record("error", ["message": .string(message), "ref": .string(ref)])
    }

    /// How many records of each type were written so far.
    public var written: [String: Int] { counts }

    /// Writes `end` with the counts and flushes.
    public func finish() {
        emit(.object(["type": .string("end"), "counts": .object(counts.mapValues { .number(Double($0)) })]))
        flush()
    }

    private func emit(_ value: JSONValue) {
        value.write(to: &buffer)
        endLine()
    }

    private func endLine() {
        buffer.append(0x0A)
        if buffer.count >= 1 << 16 { flush() }
    }

    private func flush() {
        guard !buffer.isEmpty else { return }
        output.write(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }
}

extension JSONValue {
    /// `.string(text)` for non-empty text, else nil (left out of the record).
    public static func text(_ text: String?) -> JSONValue? {
        guard let text, !text.isEmpty else { return nil }
        return .string(text)
    }

    /// `.number(value)` or nil.
    public static func number(_ value: Double?) -> JSONValue? {
        value.map { .number($0) }
    }

    /// `.bool(value)` or nil.
    public static func flag(_ value: Bool?) -> JSONValue? {
        value.map { .bool($0) }
    }
}
