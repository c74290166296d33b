extension Migration {
    /// Results of a block of consecutive pupils of one school are checked by counting the
    /// block's pupils, rather than by joining every row to them.
    ///
    /// A first import draws its new pupils' ids from the sequence in blocks and writes their
    /// results in statements of about 15,000 rows naming about 5,000 pupils with consecutive ids.
    /// When every id from a statement's lowest to its highest is a pupil (their count says
    /// so: ids are unique) and they are all of one school, every row's pupil exists and that
    /// school is theirs: one range count of the pupils' key answers what hashing and probing
    /// every row did.
    ///
    /// Any other statement (a gap in the ids, pupils of several schools, rows filed at several
    /// schools, ids wider apart than the statement has rows) is checked as before (migration 27). What is refused, with the same messages, and which schools are raised are
    /// unchanged: a pupil in a provision of another school still raises that school.
    static let consecutivePupilsCounted = Migration(
        version: 29, name: "consecutive pupils counted",
        sql: """
            CREATE OR REPLACE FUNCTION note_new_results() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                lowest bigint;
                highest bigint;
                written bigint;
                first_filed bigint;
                last_filed bigint;
                present bigint;
                first_own bigint;
                last_own bigint;
                missing_pupil bigint;
                missing_school bigint;
                filed bigint[];
                raised bigint[];
                orphan record;
            BEGIN
                SELECT min(pupil_id), max(pupil_id), count(*), min(school_id), max(school_id)
                  INTO lowest, highest, written, first_filed, last_filed FROM new_rows;
                IF written = 0 THEN
                    RETURN NULL;
                END IF;
                -- A block of consecutive pupils of one school, filed at one school.
                IF first_filed = last_filed AND highest::numeric - lowest < written THEN
                    SELECT count(*), min(school_id), max(school_id) INTO present, first_own, last_own
                      FROM pupils WHERE id BETWEEN lowest AND highest;
                    IF present = highest::numeric - lowest + 1 AND first_own = last_own THEN
                        filed := ARRAY[first_filed];
                        raised := ARRAY[first_own] || ARRAY(
                            SELECT pr.school_id FROM enrolments e JOIN pupils p ON p.id = e.pupil_id
                                   JOIN provisions pr ON pr.id = e.provision_id
                             WHERE e.pupil_id BETWEEN lowest AND highest AND pr.school_id <> p.school_id
                               AND e.pupil_id IN (SELECT pupil_id FROM new_rows));
                    END IF;
                END IF;
                -- A pupil who does not exist has no school (pupils.school_id is never null).
                -- `raised`: the pupils' schools, and those of provisions elsewhere they are in.
                IF filed IS NOT NULL THEN
                    NULL;
                ELSIF highest::numeric - lowest < 4 * written THEN
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

            """)
}
