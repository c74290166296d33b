extension Migration {
    /// The check of inserted results reads the pupils of the statement's id range once, when
    /// the ids lie close together, rather than looking each distinct pupil up by key.
    ///
    /// A first import draws its pupils' ids in order and writes their results in statements
    /// of about 15,000 rows naming about 5,000 pupils with neighbouring ids. Looking each up
    /// (migration 24) made a distinct pass over the rows and 5,000 index probes; one range scan
    /// of the pupils' key, hashed and probed by every row, is about half the work. The trigger's
    /// own time for a million-record first import (`pg_stat_user_functions`, on the server
    /// process that is that import's bottleneck): 650 ms before, 350–359 ms after.
    ///
    /// Where the ids are far apart (at most one in four of the range named), or a statement is
    /// a single row, the lookups stay. What is refused, with the same message, and which
    /// schools are raised are unchanged. The range is compared as `numeric`, so ids at the
    /// ends of `bigint` cannot overflow it.
    static let resultPupilsReadByRange = Migration(
        version: 27, name: "result pupils read by range",
        sql: """
            CREATE OR REPLACE FUNCTION note_new_results() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                lowest bigint;
                highest bigint;
                written bigint;
                missing_pupil bigint;
                missing_school bigint;
                filed bigint[];
                raised bigint[];
                orphan record;
            BEGIN
                SELECT min(pupil_id), max(pupil_id), count(*) INTO lowest, highest, written FROM new_rows;
                IF written = 0 THEN
                    RETURN NULL;
                END IF;
                -- A pupil who does not exist has no school (pupils.school_id is never null).
                -- `raised`: the pupils' schools, and those of provisions elsewhere they are in.
                IF \(resultPupilsByRangeOrKey)
            """)

    /// Migration 27's check of inserted results, from the test of how close their pupils' ids
    /// lie (it follows `IF`) to the end of the function. Migration 29 ends its function with the
    /// same text, for the statements its count does not answer. Like every migration's text it
    /// is never edited: a change would change both migrations' checksums, which the migrator
    /// refuses on a database that applied them.
    static let resultPupilsByRangeOrKey = """
        highest::numeric - lowest < 4 * written THEN
                WITH seen AS MATERIALIZED (
                         SELECT n.school_id AS filed, p.school_id AS pupil_school,
                                min(n.pupil_id) FILTER (WHERE p.id IS NULL) AS missing
                           FROM new_rows n
                           LEFT JOIN (SELECT id, school_id FROM pupils WHERE id BETWEEN lowest AND highest) p
                                  ON p.id = n.pupil_id
                          GROUP BY 1, 2)
                SELECT (SELECT min(missing) FROM seen), ARRAY(SELECT DISTINCT s.filed FROM seen s),
                       ARRAY(SELECT pupil_school FROM seen WHERE pupil_school IS NOT NULL
                             UNION SELECT pr.school_id FROM enrolments e JOIN pupils p ON p.id = e.pupil_id
                                     JOIN provisions pr ON pr.id = e.provision_id
                                    WHERE e.pupil_id BETWEEN lowest AND highest AND pr.school_id <> p.school_id
                                      AND e.pupil_id IN (SELECT pupil_id FROM new_rows))
                  INTO missing_pupil, filed, raised;
            ELSE
                WITH result_pupil AS MATERIALIZED (
                         SELECT r.pupil_id AS id, (SELECT p.school_id FROM pupils p WHERE p.id = r.pupil_id) AS school_id
                           FROM (SELECT DISTINCT pupil_id FROM new_rows) r)
                SELECT (SELECT c.id FROM result_pupil c WHERE c.school_id IS NULL LIMIT 1),
                       ARRAY(SELECT DISTINCT school_id FROM new_rows),
                       ARRAY(SELECT school_id FROM result_pupil WHERE school_id IS NOT NULL
                             UNION SELECT pr.school_id FROM result_pupil c
                                     JOIN enrolments e ON e.pupil_id = c.id JOIN provisions pr ON pr.id = e.provision_id
                                    WHERE pr.school_id <> c.school_id)
                  INTO missing_pupil, filed, raised;
            END IF;
            SELECT f INTO missing_school FROM unnest(filed) f WHERE NOT EXISTS (SELECT 1 FROM schools s WHERE s.id = f) LIMIT 1;
            IF missing_pupil IS NOT NULL OR missing_school IS NOT NULL THEN
                SELECT n.pupil_id, n.school_id, n.assessed_on INTO orphan FROM new_rows n
                 WHERE n.pupil_id = missing_pupil OR n.school_id = missing_school
                 LIMIT 1;
                \(refuseOrphan)
            END IF;
            UPDATE schools SET data_version = data_version + 1 WHERE id = ANY (filed || raised);
            RETURN NULL;
        END $$;
        """
}
