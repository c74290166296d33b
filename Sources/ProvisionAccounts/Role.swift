/// What an account may do in the console (issue 17). The rules themselves are decided in one
/// place, the console's `Access`; these are the facts it decides from.
public enum Role: String, Sendable, CaseIterable, Codable {
    /// A school's SENCO: the pupils, provision and alerts of their own schools.
    case senco
    /// The trust's SEND lead: every school, the trust dashboard and the audit log.
    case sendLead = "send_lead"
    /// The trust's IT staff: sources, plugins, runs, jobs and mail; never pupil data.
    case itAdmin = "it_admin"

    /// Whether the role reaches pupils' names, UPNs and scores at all.
    public var seesPupils: Bool { self != .itAdmin }
    /// Whether the role covers every school of the trust rather than a list.
    public var wholeTrust: Bool { self == .sendLead }
    /// Whether a second factor is required unless the account was made without one: the
    /// roles that reach every school's data or the system itself.
    public var secondFactorByDefault: Bool { self != .senco }
}
