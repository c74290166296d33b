import Postgres
import ProvisionModel

/// The ids of the tests a run's results name (`result_tests`, migration 32), each test added
/// when the run first meets it.
///
/// A new test is added on the run's bookkeeping connection, outside its transaction, so it is
/// there for any other import at once: added inside, it would be locked until this run
/// commits, and another import adding it too would wait for that. Nothing removes a test, so a
/// test added by a run that is then rolled back only lists a name no result uses yet.
/// Every result the run accepts passes here, staged or written directly: the merge then finds
/// every staged result's test listed (it adds any missing itself, for a merge run alone).
///
/// A school's exports name a few dozen tests. A run naming more than ``limit`` fails, with
/// nothing written: a plugin mapping each pupil's result to a test of its own (or a hostile
/// one) would otherwise list tests without end, which are never removed.
struct ResultTests {
    /// The most tests one run may name.
    static let limit = 1_000

    private let book: PostgresConnection
    private var ids: [ResultTest: Int32] = [:]
    /// The last test met: most results of a line's neighbours name the same one.
    private var last: (name: ResultTest, id: Int32)?

    init(book: PostgresConnection) { self.book = book }

    /// The id of the test `result` names.
    mutating func id(of result: ResultFields) async throws -> Int32 {
        if let last, last.name.instrument == result.instrument, last.name.subject == result.subject,
            last.name.measure == result.measure
        {
            return last.id
        }
        let name = ResultTest(instrument: result.instrument, subject: result.subject, measure: result.measure)
        let id: Int32
        if let known = ids[name] {
            id = known
        } else {
            guard ids.count < Self.limit else {
                throw ImportFailure(
                    "the results name more than \(Self.limit) different tests (instrument, subject and measure); "
                        + "a school's exports name a few dozen: check the plugin's mapping of its columns",
                    inputRejected: true)
            }
            id = try await book.query(
                "SELECT result_test_id($1, $2, $3) AS id", name.instrument, name.subject, name.measure
            ).scalar(as: Int32.self)
            ids[name] = id
        }
        last = (name, id)
        return id
    }
}
