extension Migration {
    /// Duplicated-provision alerts keyed by the outcome's subject too.
    ///
    /// The rule raises one flag per pupil and outcome (test, subject and measure), but keyed
    /// them by test and measure alone, so a pupil doubled up in two subjects of one test (a
    /// teacher's steps in reading and in writing) raised two flags with one key, and the
    /// evaluation failed on the flags' uniqueness. The rule now writes the subject into the
    /// key; the alerts already raised get it here, so they carry on (open, or dismissed with
    /// their answer) instead of being resolved and opened again as new.
    static let duplicateAlertsBySubject = Migration(
        version: 22, name: "duplicate alerts by subject",
        sql: """
            UPDATE alerts a
               SET subject_key = 'duplicate:' || p.upn || ':' || pr.outcome_instrument || ':' || pr.outcome_subject
                                 || ':' || pr.outcome_measure
              FROM pupils p, provisions pr
             WHERE a.rule = 'duplicated_provision' AND p.id = a.pupil_id
               AND pr.school_id = a.school_id AND pr.provision_id = a.numbers->'provisions'->>0
               AND a.subject_key = 'duplicate:' || p.upn || ':' || pr.outcome_instrument || ':' || pr.outcome_measure;
            """)
}
