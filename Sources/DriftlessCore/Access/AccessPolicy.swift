/// Who may see and do what, from the `User` manifests of the applied commit (Keystone's roles, decided
/// at every request against the current manifests: a user disabled or removed in git loses access at the
/// next reconcile, tokens or not).
public struct AccessPolicy: Sendable {
    /// What a request is allowed: every project (a cloud admin) or these projects at these roles.
    public struct Grant: Sendable, Equatable {
        public var user: String
        public var cloudAdmin: Bool
        public var roles: [String: Role]

        public init(user: String, cloudAdmin: Bool, roles: [String: Role]) {
            self.user = user
            self.cloudAdmin = cloudAdmin
            self.roles = roles
        }

        /// Whether the grant sees `project` (nil: a cloud-wide object, seen by cloud admins only).
        public func canSee(project: String?) -> Bool {
            if cloudAdmin { return true }
            guard let project else { return false }
            return roles[project] != nil
        }

        /// Whether the grant manages `project` (its `admin`).
        public func canManage(project: String) -> Bool {
            cloudAdmin || roles[project] == .admin
        }

        /// Whether the grant manages at least one project.
        public var managesAnything: Bool { cloudAdmin || roles.values.contains(.admin) }
    }

    public enum Denial: Error, Equatable {
        /// No such user in the applied manifests, or the user is disabled: the token is worth nothing.
        case unknownOrDisabled(String)
    }

    private let users: [String: User]

    public init(state: DesiredState) {
        users = Dictionary(state.users.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// The grant of `user`, or why there is none.
    public func grant(for user: String) -> Result<Grant, Denial> {
        guard let found = users[user], found.spec.enabled else { return .failure(.unknownOrDisabled(user)) }
        var roles: [String: Role] = [:]
        for binding in found.spec.roles { roles[binding.project] = max(roles[binding.project] ?? .reader, binding.role) }
        return .success(Grant(user: user, cloudAdmin: found.spec.admin, roles: roles))
    }
}
