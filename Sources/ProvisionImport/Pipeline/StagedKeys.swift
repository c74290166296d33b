/// Whether the pupils and results staged by a run could repeat a natural key.
///
/// The merge keeps the last line of each key, which means sorting every staged record by
/// its key (0.7 s of a million-record first import). Most runs repeat no key: a record's key
/// hash (``StoredRecords/key(_:)``) is noted as it is staged, and a type none of whose keys
/// came twice is merged as it is. Equal keys have equal hashes, so a repeat is never missed;
/// two keys sharing a hash only cost the sort. Above ``limit`` keys no more are kept and
/// every type staged after that is sorted by key.
struct StagedKeys {
    private var seen: Set<Int> = []
    /// Types of which a key may have been staged more than once.
    private(set) var mayRepeat: Set<String> = []

    /// The most keys kept.
    let limit: Int

    /// Two million keys: 2^22 buckets of 8 bytes, 32 MiB (48 MiB while growing). A run that
    /// also keeps a list of stored rows (``StoredRecords``) keeps that many keys fewer: the
    /// two lists together stay within the supervisor's 200 MiB.
    static let defaultLimit = 2_000_000

    init(limit: Int = defaultLimit) { self.limit = limit }

    /// How many distinct keys are kept.
    var count: Int { seen.count }

    /// Whether every key noted so far is kept, so that ``contains(_:)`` misses none.
    var knowsEveryKey: Bool { seen.count < limit }

    /// Whether a staged record's key hashed to `key` (a record written directly must not
    /// follow a staged one of its key: the merge would let the earlier line win).
    func contains(_ key: Int) -> Bool { seen.contains(key) }

    /// Notes a staged record of `type` whose key hashes to `key`.
    mutating func note(_ type: String, key: Int) {
        guard seen.count < limit else {
            mayRepeat.insert(type)
            return
        }
        if !seen.insert(key).inserted { mayRepeat.insert(type) }
    }
}
