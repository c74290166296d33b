extension Migration {
    /// The growth model (DESIGN §6, evaluation v2): each enrolment's exit as the pupil's own
    /// history predicted it and the value the intervention added beyond that; each provision's
    /// and programme's value added with its interval (pooled towards the programme for a
    /// small group); and how many pupils the stall rule could not judge yet.
    static let growthModel = Migration(
        version: 4, name: "growth model",
        sql: """
            ALTER TABLE enrolment_outcomes
                ADD COLUMN expected_exit numeric,
                ADD COLUMN value_added numeric,
                ADD COLUMN history_n integer;
            ALTER TABLE provision_outcomes
                ADD COLUMN value_added numeric,
                ADD COLUMN value_added_low numeric,
                ADD COLUMN value_added_high numeric,
                ADD COLUMN value_added_n integer NOT NULL DEFAULT 0,
                ADD COLUMN pooled boolean NOT NULL DEFAULT false;
            ALTER TABLE evaluation_runs ADD COLUMN stall_not_judged integer;
            """)
}
