extension Migration {
    /// The check of inserted results looks each distinct pupil up through the pupils' key,
    /// rather than joining the distinct pupils with the whole table.
    ///
    /// A first import writes its results in statements of about 15,000 (``DirectWrites``), each
    /// with about 5,000 distinct pupils. For each, the planner chose to hash every pupil of the
    /// deployment: 40 ms a statement against 12 ms by key, and a cost that grew with the
    /// deployment rather than with the statement. A million-record first import (this 2-core
    /// machine, the trigger's own time from `pg_stat_user_functions`, three runs each way,
    /// alternated): 743–769 ms before, 520–556 ms after, on the server process that is that
    /// import's bottleneck. One statement inserting 250,000 pupils' results pays about 0.3 s of
    /// lookups where the hash took about 0.1 s: such a statement is a staged merge, already
    /// seconds long. What is refused, with the same message, and which schools are raised are
    /// unchanged.
    static let resultPupilsLookedUp = Migration(
        version: 24, name: "result pupils looked up",
        sql: """
            CREATE OR REPLACE FUNCTION note_new_results() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                missing_pupil bigint;
                missing_school bigint;
                orphan record;
            BEGIN
                -- A pupil who does not exist has no school (pupils.school_id is never null).
                WITH result_pupil AS MATERIALIZED (
                         SELECT r.pupil_id AS id, (SELECT p.school_id FROM pupils p WHERE p.id = r.pupil_id) AS school_id
                           FROM (SELECT DISTINCT pupil_id FROM new_rows) r),
                     filed AS MATERIALIZED (SELECT DISTINCT school_id FROM new_rows),
                     raised AS (
                         UPDATE schools SET data_version = data_version + 1
                          WHERE id = ANY (ARRAY(
                                SELECT school_id FROM filed
                                UNION SELECT school_id FROM result_pupil WHERE school_id IS NOT NULL
                                UNION SELECT pr.school_id FROM result_pupil c
                                        JOIN enrolments e ON e.pupil_id = c.id JOIN provisions pr ON pr.id = e.provision_id
                                       WHERE pr.school_id <> c.school_id)))
                SELECT (SELECT c.id FROM result_pupil c WHERE c.school_id IS NULL LIMIT 1),
                       (SELECT f.school_id FROM filed f WHERE NOT EXISTS (SELECT 1 FROM schools s WHERE s.id = f.school_id) LIMIT 1)
                  INTO missing_pupil, missing_school;
                IF missing_pupil IS NOT NULL OR missing_school IS NOT NULL THEN
                    SELECT n.pupil_id, n.school_id, n.assessed_on INTO orphan FROM new_rows n
                     WHERE n.pupil_id = missing_pupil OR n.school_id = missing_school
                     LIMIT 1;
                    \(refuseOrphan)
                END IF;
                RETURN NULL;
            END $$;
            """)
}
