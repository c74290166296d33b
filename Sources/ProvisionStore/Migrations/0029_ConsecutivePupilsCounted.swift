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
                ELSIF \(resultPupilsByRangeOrKey)

            """)
}
