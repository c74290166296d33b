/// The closed vocabularies of the plugin protocol (DESIGN §4) and the data model.
public enum Codes {
    /// School Census SEN need types.
    public static let needTypes: Set<String> = [
        "SPLD", "MLD", "SLD", "PMLD", "SEMH", "SLCN", "HI", "VI", "MSI", "PD", "ASD", "OTH", "NSA",
    ]
    /// N: no special educational need, K: SEN support, E: education, health and care plan.
    public static let senProvision: Set<String> = ["N", "K", "E"]
    /// National curriculum year groups, nursery (N1, N2) and reception (R) to 14.
    public static let yearGroups = Set(["N1", "N2", "R"] + (1...14).map(String.init))
    /// School Census gender codes.
    public static let genders: Set<String> = ["M", "F", "U", "X"]
    /// What an assessment's value measures.
    public static let measures: Set<String> = ["age_months", "standardised", "scaled", "raw", "steps"]
    /// Who delivers a provision.
    public static let staffRoles: Set<String> = ["teacher", "TA", "HLTA", "SENCO", "external"]
    /// Broad areas of need of the SEND Code of Practice: communication and interaction,
    /// cognition and learning, social emotional and mental health, sensory and/or physical.
    public static let areasOfNeed: Set<String> = ["CI", "CL", "SEMH", "SP"]
    /// How firmly an EHCP specifies a provision.
    public static let priorities: Set<String> = ["must", "should", "could"]
    /// How a provision is delivered.
    public static let deliveries: Set<String> = ["individual", "group", "class"]
    /// Where a pupil's enrolment in a provision stands.
    public static let enrolmentStatuses: Set<String> = ["planned", "active", "completed", "withdrawn"]
    /// The evaluation's alert rules (docs/evaluation.md), in the order summaries list them.
    public static let alertRules: [String] = [
        "stalled_pupil", "ineffective_intervention", "ehcp_provision_not_delivered", "missing_exit_data",
        "need_without_provision", "duplicated_provision", "review_overdue", "target_date_passed", "parents_not_informed",
    ]
    /// Whether a run is the whole data set (`snapshot`) or changes only (`delta`).
    public static let sourceKinds: Set<String> = ["snapshot", "delta"]
}
