import Foundation

/// A batch of operations for one `transact` call, with named-uuid bookkeeping.
///
/// Every `insert(_:row:)` gets a fresh `uuid-name` and returns the atom that
/// refers to the new row within the same transaction, so a whole object graph
/// (Interface → Port → Bridge) can be built without round trips:
///
/// ```swift
/// var txn = OVSDBTransaction(database: "Open_vSwitch")
/// let iface = txn.insert("Interface", row: ["name": "p1"])
/// let port = txn.insert("Port", row: ["name": "p1", "interfaces": .atom(iface)])
/// txn.append(.mutate(table: "Bridge", where: [.equals("name", "br0")],
///                    mutations: [.insert("ports", .atom(port))]))
/// let result = try await client.transact(txn)
/// let portUUID = result.uuid(for: port)
/// ```
public struct OVSDBTransaction: Sendable {
    /// The database the operations run against.
    public var database: String
    /// The operations, in order.
    public private(set) var operations: [OVSDBOperation] = []
    private var nameCounter = 0

    /// Creates an empty transaction for `database`.
    public init(database: String) {
        self.database = database
    }

    /// Creates a transaction from ready-made operations.
    public init(database: String, operations: [OVSDBOperation]) {
        self.database = database
        self.operations = operations
    }

    /// Whether no operation has been added.
    public var isEmpty: Bool { operations.isEmpty }

    /// Appends an operation and returns its index in the request.
    @discardableResult
    public mutating func append(_ operation: OVSDBOperation) -> Int {
        operations.append(operation)
        return operations.count - 1
    }

    /// Appends operations in order.
    public mutating func append(contentsOf newOperations: some Sequence<OVSDBOperation>) {
        operations.append(contentsOf: newOperations)
    }

    /// Appends an insert with a fresh `uuid-name` and returns the named-uuid atom for the new row.
    @discardableResult
    public mutating func insert(_ table: String, row: OVSDBRow) -> OVSDBAtom {
        nameCounter += 1
        let name = "row\(nameCounter)"
        operations.append(.insert(table: table, row: row, uuidName: name))
        return .namedUUID(name)
    }
}

/// The result of one successful operation (RFC 7047 §5.2).
public enum OVSDBOperationResult: Sendable, Hashable {
    /// An insert's new row.
    case inserted(UUID)
    /// A select's rows.
    case rows([OVSDBRow])
    /// How many rows an update, mutate or delete matched.
    case count(Int)
    /// Operations that return nothing (wait, commit, abort, comment, assert).
    case empty

    /// The new row's UUID, for an insert.
    public var insertedUUID: UUID? {
        if case .inserted(let uuid) = self { return uuid }
        return nil
    }

    /// The selected rows, for a select.
    public var rows: [OVSDBRow]? {
        if case .rows(let rows) = self { return rows }
        return nil
    }

    /// The matched row count, for update, mutate and delete.
    public var count: Int? {
        if case .count(let count) = self { return count }
        return nil
    }
}

/// What a committed `transact` returned, operation by operation.
public struct OVSDBTransactionResult: Sendable {
    /// One result per operation, in request order.
    public var results: [OVSDBOperationResult]
    /// The real UUID of each row inserted with a `uuid-name`.
    public var namedUUIDs: [String: UUID]

    /// Creates a result.
    public init(results: [OVSDBOperationResult], namedUUIDs: [String: UUID]) {
        self.results = results
        self.namedUUIDs = namedUUIDs
    }

    /// The real UUID assigned to a row inserted as `atom` (a `.namedUUID`).
    public func uuid(for atom: OVSDBAtom) -> UUID? {
        switch atom {
        case .namedUUID(let name): return namedUUIDs[name]
        case .uuid(let uuid): return uuid
        default: return nil
        }
    }
}
