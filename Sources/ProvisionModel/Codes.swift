/// The closed vocabularies of the plugin protocol (DESIGN §4) and the data model.
public enum Codes {
    /// School Census SEN need types.
    public static let needTypes: Set<String> = [
        "SPLD", "MLD", "SLD", "PMLD", "SEMH", "SLCN", "HI", "VI", "MSI", "PD", "ASD", "OTH", "NSA",
    ]
    /// N: no special educational need, K: SEN support, E: education, health and care plan.
    public static let senProvision: Set<String> = ["N", "K", "E"]
    public static let yearGroups = Set(["N1", "N2", "R"] + (1...14).map(String.init))
    public static let genders: Set<String> = ["M", "F", "U", "X"]
    public static let measures: Set<String> = ["age_months", "standardised", "scaled", "raw", "steps"]
    public static let staffRoles: Set<String> = ["teacher", "TA", "HLTA", "SENCO", "external"]
    /// Broad areas of need of the SEND Code of Practice: communication and interaction,
    /// cognition and learning, social emotional and mental health, sensory and/or physical.
    public static let areasOfNeed: Set<String> = ["CI", "CL", "SEMH", "SP"]
    public static let priorities: Set<String> = ["must", "should", "could"]
    public static let deliveries: Set<String> = ["individual", "group", "class"]
    public static let enrolmentStatuses: Set<String> = ["planned", "active", "completed", "withdrawn"]
    public static let sourceKinds: Set<String> = ["snapshot", "delta"]
}
