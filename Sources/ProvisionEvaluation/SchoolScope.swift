import Foundation
import Postgres
import ProvisionConfig
import ProvisionModel

/// Which schools an evaluation run evaluates, and which it carries over unchanged.
///
/// A school is unchanged when its latest succeeded evaluation was as of the same date, under
/// the same settings, at the data version it has now (`schools.data_version`, raised by
/// triggers in the transaction of every change to the data the evaluation reads). Its
/// enrolment outcomes and flags are then copied from that evaluation into the new run, so
/// every run still holds the whole picture of what it covers, and the alert lifecycle, the
/// reports and the verdicts read one run as before.
struct SchoolScope: Sendable {
    struct School: Sendable {
        let id: Int64
        /// The data version read at the start of the run. Read before any data, so a change
        /// committed while the run reads can only make the next run evaluate again.
        let dataVersion: Int64
        /// For an unchanged school: the run its results are copied from, the run that first
        /// computed them, and its pupils the stall rule could not judge.
        var previous: (run: Int64, origin: Int64, stallNotJudged: Int)?
    }

    let evaluated: [School]
    let unchanged: [School]

    /// The evaluated schools' ids, as the steps' `bigint[]` parameters take them.
    var evaluatedIDs: [String] { evaluated.map { String($0.id) } }

    /// Decides for every school in scope (`school`, or every school with data). With
    /// `lockingReused` (an evaluation about to copy from them), the runs the unchanged
    /// schools' results would be copied from are locked until the transaction ends.
    static func decide(
        _ db: PostgresConnection, school: Int64?, asOf: SchoolDate, fingerprint: String, full: Bool,
        lockingReused: Bool = true
    ) async throws -> SchoolScope {
        let rows = try await db.query(
            """
            SELECT s.id, s.data_version, c.evaluation_run_id AS previous, coalesce(c.reused_from, c.evaluation_run_id) AS origin,
                   c.stall_not_judged,
                   (c.data_version = s.data_version AND r.as_of = $2::date AND r.settings->>'fingerprint' = $3) AS same
              FROM schools s
              LEFT JOIN LATERAL (
                   SELECT rs.* FROM evaluation_run_schools rs JOIN evaluation_runs e ON e.id = rs.evaluation_run_id
                    WHERE rs.school_id = s.id AND e.status = 'succeeded'
                    ORDER BY rs.evaluation_run_id DESC LIMIT 1) c ON true
              LEFT JOIN evaluation_runs r ON r.id = c.evaluation_run_id
             WHERE $1::bigint IS NULL OR s.id = $1::bigint
             ORDER BY s.id
            """, school, asOf.iso, fingerprint
        ).rows
        var evaluated: [School] = []
        var unchanged: [School] = []
        for row in rows {
            var entry = School(id: try row.decode("id"), dataVersion: try row.decode("data_version"))
            if !full, try row.decode("same", as: Bool?.self) == true, let previous: Int64 = try row.decode("previous") {
                entry.previous = (previous, try row.decode("origin"), try row.decode("stall_not_judged"))
                unchanged.append(entry)
            } else {
                evaluated.append(entry)
            }
        }
        // The runs whose results are copied, and the runs those were first computed in, are
        // locked as a flag's run is: pruning old runs (``EvaluationHistory``) waits for this
        // evaluation instead of deleting them from under it.
        let reused = Set(unchanged.flatMap { school in school.previous.map { [$0.run, $0.origin] } ?? [] })
        if lockingReused, !reused.isEmpty {
            let locked = try await db.query(
                "SELECT id FROM evaluation_runs WHERE id = ANY($1::bigint[]) FOR KEY SHARE", [reused.map(String.init)]
            ).rows.count
            guard locked == reused.count else {
                throw EvaluationError(
                    "an earlier evaluation whose results this one reuses was deleted as it started "
                        + "(old runs are deleted after [retention] evaluation_runs_days); run the evaluation again")
            }
        }
        return SchoolScope(evaluated: evaluated, unchanged: unchanged)
    }

    private var copiedFrom: (runs: [String], schools: [String]) {
        (unchanged.compactMap { $0.previous.map { String($0.run) } }, unchanged.map { String($0.id) })
    }

    /// Copies the unchanged schools' enrolment outcomes into run `runID`, before the verdicts
    /// are judged from all of the run's outcomes.
    func carryOverOutcomes(_ db: PostgresConnection, runID: Int64) async throws {
        guard !unchanged.isEmpty else { return }
        let columns = try await Self.columns(db, table: "enrolment_outcomes", except: ["evaluation_run_id"], from: "o")
        try await db.execute(
            """
            INSERT INTO enrolment_outcomes (evaluation_run_id, \(columns.names))
            SELECT $1, \(columns.values)
              FROM enrolment_outcomes o JOIN enrolments e ON e.id = o.enrolment_id JOIN provisions pr ON pr.id = e.provision_id
              JOIN unnest($2::bigint[], $3::bigint[]) AS c (run_id, school_id)
                ON o.evaluation_run_id = c.run_id AND pr.school_id = c.school_id
            """, runID, copiedFrom.runs, copiedFrom.schools)
    }

    /// Copies the unchanged schools' flags into run `runID`, all but "ineffective
    /// intervention", which follows the verdicts this run judged. Returns the counts by rule.
    func carryOverFlags(_ db: PostgresConnection, runID: Int64) async throws -> [String: Int] {
        guard !unchanged.isEmpty else { return [:] }
        let columns = try await Self.columns(db, table: "evaluation_flags", except: ["id", "evaluation_run_id"], from: "f")
        let rows = try await db.query(
            """
            WITH copied AS (
                INSERT INTO evaluation_flags (evaluation_run_id, \(columns.names))
                SELECT $1, \(columns.values)
                  FROM evaluation_flags f
                  JOIN unnest($2::bigint[], $3::bigint[]) AS c (run_id, school_id)
                    ON f.evaluation_run_id = c.run_id AND f.school_id = c.school_id
                 WHERE f.rule <> 'ineffective_intervention'
                RETURNING rule)
            SELECT rule, count(*) AS n FROM copied GROUP BY rule
            """, runID, copiedFrom.runs, copiedFrom.schools
        ).rows
        var counts: [String: Int] = [:]
        for row in rows { counts[try row.decode("rule")] = try row.decode("n") }
        return counts
    }

    /// Records which schools run `runID` covers and how; returns the run's pupils the stall
    /// rule could not judge (this run's count for evaluated schools, the earlier one for the
    /// others).
    func record(_ db: PostgresConnection, runID: Int64, stallsNotJudged: [Int64: Int]) async throws -> Int {
        let all = evaluated + unchanged
        let notJudged = all.map { $0.previous?.stallNotJudged ?? stallsNotJudged[$0.id] ?? 0 }
        try await db.execute(
            """
            INSERT INTO evaluation_run_schools (evaluation_run_id, school_id, data_version, reused_from, stall_not_judged)
            SELECT $1, school, version, nullif(origin, 0), not_judged
              FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::int[]) AS s (school, version, origin, not_judged)
            """, runID, all.map { String($0.id) }, all.map { String($0.dataVersion) },
            all.map { String($0.previous?.origin ?? 0) }, notJudged.map(String.init))
        return notJudged.reduce(0, +)
    }

    /// A table's columns but `except`, quoted, from the catalogue (a column added later is
    /// carried over without this code changing): as an insert's column list, and as the
    /// values selected from the same table under `alias`.
    private static func columns(
        _ db: PostgresConnection, table: String, except: [String], from alias: String
    ) async throws -> (names: String, values: String) {
        let names = try await db.query(
            """
            SELECT quote_ident(attname) AS name FROM pg_attribute
             WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attname <> ALL($2::text[])
             ORDER BY attnum
            """, table, except
        ).rows.map { try $0.decode("name", as: String.self) }
        return (names.joined(separator: ", "), names.map { alias + "." + $0 }.joined(separator: ", "))
    }
}

extension Configuration.Evaluation {
    /// The revision of the evaluation's own rules, part of ``fingerprint``: raised by a change
    /// of the code that changes what an evaluation finds from the same data and settings, so
    /// that results of the earlier rules are not carried over after an upgrade. (2: scaled
    /// scores are modelled by the stall rule, pupils with no results count as not judged, the
    /// EHCP rule raises one flag per pupil and provision, duplicates are keyed by subject.)
    static let rulesRevision = 2

    /// Every setting, in a fixed order, and the rules' revision, hashed: results computed under
    /// other settings or rules are never carried over. Read by reflection, so a setting added
    /// later is included; a kind of value it cannot order only stops results being carried over.
    var fingerprint: String {
        let described = Mirror(reflecting: self).children.map { child -> String in
            let value: String
            if let scales = child.value as? [String: InstrumentScale] {
                value = scales.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ",")
            } else if let numbers = child.value as? [String: Double] {
                value = numbers.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ",")
            } else {
                value = "\(child.value)"
            }
            return "\(child.label ?? "")=\(value)"
        }
        return SHA256.hex((["rules=\(Self.rulesRevision)"] + described).joined(separator: ";"))
    }
}
