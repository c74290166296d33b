import ProvisionAccounts

/// Every authorisation decision of the console, in one place (issue 17): routes name what
/// they need and call ``Access/require(_:_:among:)`` before touching data. Tests go through every
/// rule over HTTP (ConsoleAuthorisationTests).
enum Access {
    /// What a request needs.
    enum Need: Sendable, Equatable {
        /// A school's pupils, provision and alerts: read or change.
        case school(String)
        /// Every school at once: the trust dashboard and programmes across schools.
        case wholeTrust
        /// The audit log.
        case auditLog
        /// Sources, runs, jobs and mail: the IT admin's page (no pupil data).
        case operations
    }

    /// Whether `user` may have `need`.
    static func allows(_ user: User, _ need: Need) -> Bool {
        switch need {
        case .school(let urn):
            switch user.role {
            case .senco: return user.schools.contains(urn)
            case .sendLead: return true
            case .itAdmin: return false
            }
        case .wholeTrust, .auditLog:
            return user.role == .sendLead
        case .operations:
            return user.role == .itAdmin || user.role == .sendLead
        }
    }

    /// Returns when `visitor` may have `need`; throws 403 saying why not, or 404 for a
    /// school that is not one of `schools` (the trust's, as configured).
    static func require(_ visitor: Visitor, _ need: Need, among schools: [String] = []) throws(ConsoleError) {
        if case .school(let urn) = need, !schools.contains(urn) {
            throw .notFound("school \(urn.prefix(12)) (it is not one of the trust's schools)")
        }
        guard allows(visitor.user, need) else {
            switch (visitor.user.role, need) {
            case (.itAdmin, .school):
                throw .forbidden("an IT admin account does not see pupil data")
            case (_, .school(let urn)):
                throw .forbidden("school \(urn) is not one of this account's schools")
            default:
                throw .forbidden("this needs the trust's SEND lead")
            }
        }
    }

    /// The schools `user` sees, out of `all` (the configured ones).
    static func schools(of user: User, among all: [String]) -> [String] {
        all.filter { allows(user, .school($0)) }
    }
}
