import Foundation
import ProvisionModel

/// What a source's last successful run learnt of its plugin's lines, kept in a file of the
/// state folder: for each line that was a valid pupil or result without a warning, the
/// hashes of its record (``StoredRecords/Digest``), found by a hash of the line's bytes.
///
/// A nightly export is mostly the lines of the night before. A line found here is not parsed
/// or validated again: its record's hashes are compared with the stored rows (which are
/// listed as before), and when the row is stored as that record would write it, the line is
/// skipped as an unchanged record always was. Otherwise, or when the protocol is not in the
/// state to take a record, the line is read as any other. The list is a record of facts about
/// lines, not about the database: what is stored is checked row by row, or, for results, by
/// the data versions the run that wrote this file vouched at (``StoredResultsVouch``).
///
/// The hashes are SipHash under a key drawn when the file is first written and kept in it
/// (``RecordHashing``), so this run's list of stored rows is hashed as that run's records
/// were. A file is used only by the same build of this program (its executable file, unchanged),
/// for the same plugin and bound schools, and not on a day before the one it was written
/// (a result valid then is valid on any later day; a pupil is remembered only when the day
/// cannot change whether they are on roll, and only when they list no needs or an empty
/// list). Otherwise, or when it is damaged, it is ignored and written afresh.
struct RememberedLines: Sendable {
    /// One remembered line, 24 bytes in the file. Key and content hashes have their lowest
    /// bit clear (``RecordHashing``), so it says more here: in `content`, that the record is a
    /// pupil; in `key`, that the pupil record listed its needs, as none.
    struct Entry: Sendable {
        var line: UInt64
        var key: Int
        var content: Int
    }

    /// The most lines remembered (24 MiB of entries, and as much for those a run notes):
    /// the supervisor keeps its 200 MiB with the list of stored rows beside them. Lines past
    /// it are read every run.
    static let limit = 1_000_000

    /// "SPRLINES", then the format's version.
    private static let magic: UInt64 = 0x5345_4E49_4C52_5053
    private static let formatVersion: UInt64 = 3
    private static let headerWords = 8

    /// The hashing the lines' records were hashed with.
    let hashing: RecordHashing
    /// Drawn afresh for each file written, and recorded beside the data versions of the run
    /// that wrote it when that run vouches for its lines' results (``StoredResultsVouch``).
    let stamp: UInt64
    /// Sorted by line hash.
    let entries: [Entry]
    /// How many of them are results.
    let resultCount: Int
    /// Where the entries whose line hash starts with each `bits`-bit prefix start, and one
    /// past the last: a lookup reads one of these and a few neighbouring entries. The hashes
    /// are keyed, so spread evenly: about four entries share a prefix.
    private let starts: [UInt32]
    private let bits: Int

    /// `entries`, sorted by line hash, each line once, remembered under `hashing` in the file
    /// stamped `stamp`.
    init(hashing: RecordHashing, stamp: UInt64, entries: [Entry]) {
        self.hashing = hashing
        self.stamp = stamp
        self.entries = entries
        var bits = 1
        while bits < 30, 1 << (bits + 2) < entries.count { bits += 1 }
        self.bits = bits
        var starts = [UInt32](repeating: 0, count: (1 << bits) + 1)
        var pupils = 0
        for entry in entries {
            starts[Int(entry.line >> UInt64(64 - bits)) + 1] += 1
            pupils += entry.content & 1
        }
        resultCount = entries.count - pupils
        for prefix in 0..<(1 << bits) { starts[prefix + 1] += starts[prefix] }
        self.starts = starts
    }

    /// What a file must have been written for: this program's build, the plugin and the
    /// bound schools. Nil when this program's executable cannot be found (nothing is then
    /// remembered).
    static func context(plugin: String, schools: [String]) -> String? {
        executableIdentity.map { "\($0)\u{0}\(plugin)\u{0}\(schools.sorted().joined(separator: ","))" }
    }

    /// The running executable's file: its device, inode, size and time of last change to the
    /// nanosecond. A new build or an upgrade is another file, or the same file changed.
    /// (Its SHA-256 took 50 ms of a 93 MB executable, per `provisionctl import`: 35 s of a
    /// million-pupil deployment's 660 imports.)
    private static let executableIdentity: String? = {
        var status = stat()
        guard stat("/proc/self/exe", &status) == 0 else { return nil }
        return "\(status.st_dev):\(status.st_ino):\(status.st_size):\(status.st_mtim.tv_sec).\(status.st_mtim.tv_nsec)"
    }()

    /// The lines remembered at `path` for `context`, written on `today` (days since 1970) or
    /// before; nil when there is no such file or it does not hold what it should.
    static func load(path: String, context: String, today: Int) -> RememberedLines? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var header = [UInt64](repeating: 0, count: headerWords)
        guard header.withUnsafeMutableBytes({ readFully(descriptor, into: $0) }) else { return nil }
        header = header.map { UInt64(littleEndian: $0) }
        let count = Int(truncatingIfNeeded: header[6])
        var status = stat()
        guard header[0] == magic, header[1] == formatVersion, (0...limit).contains(count), fstat(descriptor, &status) == 0,
              Int(status.st_size) == headerWords * 8 + count * MemoryLayout<Entry>.stride
        else { return nil }
        let hashing = RecordHashing(secret: (header[2], header[3]))
        guard header[4] == contextHash(context, hashing), Int(truncatingIfNeeded: header[5]) <= today else { return nil }
        var complete = true
        let entries = [Entry](unsafeUninitializedCapacity: count) { buffer, initialised in
            complete = readFully(descriptor, into: UnsafeMutableRawBufferPointer(buffer))
            initialised = complete ? count : 0
        }
        guard complete else { return nil }
        return RememberedLines(hashing: hashing, stamp: header[7], entries: entries)
    }

    /// The hash a line is remembered by, under `hashing`'s key.
    static func lineHash(_ bytes: UnsafeRawBufferPointer, _ hashing: RecordHashing) -> UInt64 {
        var hasher = KeyedHasher(key: hashing.secret)
        hasher.combine(UInt8(0xFF))  // apart from every record hash
        hasher.combine(bytes: bytes)
        return UInt64(bitPattern: Int64(hasher.finalize()))
    }

    /// The index of the line with `hash`, nil when it is not remembered.
    func find(_ hash: UInt64) -> Int? {
        let prefix = Int(hash >> UInt64(64 - bits))
        for index in Int(starts[prefix])..<Int(starts[prefix + 1]) where entries[index].line >= hash {
            return entries[index].line == hash ? index : nil
        }
        return nil
    }

    /// The record type and hashes of the entry at `index`.
    func record(at index: Int) -> (type: String, digest: StoredRecords.Digest) {
        let entry = entries[index]
        let pupil = entry.content & 1 == 1
        let needs = pupil && entry.key & 1 == 1 ? hashing.noNeeds : nil
        return (pupil ? "pupil" : "assessment", StoredRecords.Digest(key: entry.key & ~1, content: entry.content & ~1, needs: needs))
    }

    /// Sorts `entries` by line hash in place (quicksort: Swift's `sort` borrows a buffer half
    /// the size of what it sorts, 12 MiB here at the supervisor's peak).
    static func sortByLine(_ entries: UnsafeMutableBufferPointer<Entry>) {
        var ranges = [(0, entries.count - 1)]
        while let (low, high) = ranges.popLast() {
            guard high - low >= 16 else {
                // Short ranges: insertion sort.
                guard high > low else { continue }
                for index in (low + 1)...high {
                    let entry = entries[index]
                    var place = index
                    while place > low, entries[place - 1].line > entry.line {
                        entries[place] = entries[place - 1]
                        place -= 1
                    }
                    entries[place] = entry
                }
                continue
            }
            // The hashes are keyed, so spread evenly: the middle entry is as good a pivot as
            // any. Three ways, so that a line repeated a million times is one range.
            let pivot = entries[low + (high - low) / 2].line
            var (less, index, more) = (low, low, high)
            while index <= more {
                let line = entries[index].line
                if line < pivot {
                    entries.swapAt(less, index)
                    less += 1
                    index += 1
                } else if line > pivot {
                    entries.swapAt(index, more)
                    more -= 1
                } else {
                    index += 1
                }
            }
            // The smaller side first keeps the stack of ranges short.
            let left = (low, less - 1)
            let right = (more + 1, high)
            if left.1 - left.0 < right.1 - right.0 {
                ranges.append(right)
                ranges.append(left)
            } else {
                ranges.append(left)
                ranges.append(right)
            }
        }
    }

    fileprivate static func contextHash(_ context: String, _ hashing: RecordHashing) -> UInt64 {
        var hasher = KeyedHasher(key: hashing.secret)
        var text = context
        text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        return UInt64(bitPattern: Int64(hasher.finalize()))
    }

    private static func readFully(_ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        guard let base = buffer.baseAddress else { return true }
        var offset = 0
        while offset < buffer.count {
            let got = read(descriptor, base + offset, buffer.count - offset)
            if got < 0, errno == EINTR { continue }
            guard got > 0 else { return false }
            offset += got
        }
        return true
    }

    /// Collects the lines one run will remember: those it found remembered and skipped, and
    /// those it read and accepted without a warning.
    struct Recorder {
        private let old: RememberedLines?
        private var kept: [Bool]
        private var keptCount = 0
        private var fresh: [Entry] = []
        /// `current_date` of the run, as YYYY-MM-DD: a pupil leaving after it is not remembered.
        private let today: String
        /// The hash of no needs, under the run's hashing.
        private let noNeeds: Int

        init(old: RememberedLines?, today: String, hashing: RecordHashing) {
            self.old = old
            self.today = today
            noNeeds = hashing.noNeeds
            kept = Array(repeating: false, count: old?.entries.count ?? 0)
            // Address space, not memory, until lines are noted: no copy as it grows.
            fresh.reserveCapacity(RememberedLines.limit)
        }

        /// Keeps the remembered line at `index`.
        mutating func keep(_ index: Int) {
            guard !kept[index] else { return }
            kept[index] = true
            keptCount += 1
        }

        /// Remembers the line hashed `line`, whose record was accepted with `digest`.
        mutating func note(line: UInt64, _ record: ValidRecord, _ digest: StoredRecords.Digest) {
            guard record.warning == nil, keptCount + fresh.count < RememberedLines.limit else { return }
            switch record.type {
            case "assessment":
                fresh.append(Entry(line: line, key: digest.key, content: digest.content))
            case "pupil":
                // On roll today and later, or left for good: the day cannot change the record.
                if let leaving = record.pupil?.leavingDate, leaving > today { return }
                guard digest.needs == nil || digest.needs == noNeeds else { return }
                fresh.append(Entry(line: line, key: digest.key | (digest.needs == nil ? 0 : 1), content: digest.content | 1))
            default:
                return
            }
        }

        /// Whether the file would be written as it is: every remembered line kept, none added.
        var changesNothing: Bool { fresh.isEmpty && keptCount == kept.count }

        /// Writes the lines to `path` (a new file renamed over the old) with `hashing`'s key,
        /// for `context`, dated `today` (days since 1970), stamped `stamp`.
        consuming func write(
            to path: String, hashing: RecordHashing, context: String, today: Int, stamp: UInt64
        ) throws(PrivateFiles.Failure) {
            fresh.withUnsafeMutableBufferPointer { RememberedLines.sortByLine($0) }
            let oldEntries = old?.entries ?? []
            let (kept, fresh) = (kept, fresh)
            // The kept old entries and the fresh ones, merged in order, each line once and no
            // more than the limit (a run may keep many and add many): counted first for the
            // header, then written a few thousand at a time.
            func merged(_ visit: (Entry) -> Void) {
                var (o, f) = (0, 0)
                var last: UInt64?
                var visited = 0
                while o < oldEntries.count || f < fresh.count, visited < RememberedLines.limit {
                    let entry: Entry
                    if f == fresh.count || (o < oldEntries.count && oldEntries[o].line <= fresh[f].line) {
                        defer { o += 1 }
                        guard kept[o] else { continue }
                        entry = oldEntries[o]
                    } else {
                        entry = fresh[f]
                        f += 1
                    }
                    guard entry.line != last else { continue }
                    last = entry.line
                    visited += 1
                    visit(entry)
                }
            }
            var count = 0
            merged { _ in count += 1 }
            let header: [UInt64] = [
                RememberedLines.magic, RememberedLines.formatVersion, hashing.secret.0, hashing.secret.1,
                RememberedLines.contextHash(context, hashing), UInt64(truncatingIfNeeded: today), UInt64(count), stamp,
            ].map(\.littleEndian)
            // Entries in this machine's byte order: the file never leaves it.
            try PrivateFiles.write(to: path, sync: false) { write in
                header.withUnsafeBytes { write($0) }
                var chunk: [Entry] = []
                chunk.reserveCapacity(4096)
                merged { entry in
                    chunk.append(entry)
                    if chunk.count == 4096 {
                        chunk.withUnsafeBytes { write($0) }
                        chunk.removeAll(keepingCapacity: true)
                    }
                }
                chunk.withUnsafeBytes { write($0) }
            }
        }
    }
}
