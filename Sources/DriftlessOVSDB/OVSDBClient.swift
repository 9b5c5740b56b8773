import Foundation
import NIOCore
import NIOPosix

/// Where an `OVSDBClient` stands with its server.
///
/// Only `.connected` means the monitor cache mirrors the server. In every
/// other state the network state of that host is *unknown* (not empty): the
/// cache keeps its last rows but `cacheSnapshot()` refuses to hand them out.
public enum OVSDBConnectionState: Sendable, Hashable {
    /// `start()` or `connect()` has not been called yet.
    case idle
    /// Connecting; `attempt` counts failures since the last good connection.
    case connecting(attempt: Int)
    /// Connected and re-issuing monitors; the cache is being replaced.
    case synchronizing
    /// Connected, monitors live, cache in sync.
    case connected
    /// Lost or failed to connect; a reconnect follows after a backoff.
    case disconnected(reason: String)
    /// `close()` was called; the client is finished.
    case closed

    /// Whether the cache mirrors the server.
    public var isConnected: Bool { self == .connected }
}

/// Something a daemon may react to: the connection state or rows in the cache changed.
public enum OVSDBClientEvent: Sendable, Hashable {
    /// The connection state changed.
    case stateChanged(OVSDBConnectionState)
    /// Rows of monitored tables were inserted, modified or deleted (one server update's worth).
    case rowsChanged([OVSDBRowChange])
}

/// A pure-Swift OVSDB (RFC 7047) client: JSON-RPC over swift-nio, monitors, an in-memory cache.
///
/// Generic over the schema: nothing here knows Open_vSwitch (see
/// `OpenVSwitch` for that). After `start()` or `connect()` the client keeps a
/// connection up on its own: it reconnects with exponential backoff, re-issues
/// every monitor and replaces the cache, reporting what changed meanwhile as
/// ordinary row changes. It probes liveness with `echo` and answers the
/// server's `echo`. Requests fail fast with `notConnected` while it is down.
public actor OVSDBClient {
    /// Timeouts, probe interval and backoff.
    public struct Configuration: Sendable {
        /// How long a request waits for its reply.
        public var requestTimeout: Duration
        /// How long one connection attempt may take.
        public var connectTimeout: Duration
        /// How often to probe an idle connection with `echo`; `nil` disables probing.
        public var echoInterval: Duration?
        /// The first reconnect delay; it doubles per failed attempt.
        public var reconnectInitialDelay: Duration
        /// The longest reconnect delay.
        public var reconnectMaximumDelay: Duration
        /// The largest JSON message accepted from the server, in bytes.
        public var maximumMessageSize: Int
        /// The controller's TLS files for `ssl:` endpoints (ignored by the others).
        public var tls: OVSDBTLSFiles?

        /// Creates a configuration; the defaults suit a local `ovsdb-server`.
        public init(
            requestTimeout: Duration = .seconds(30),
            connectTimeout: Duration = .seconds(5),
            echoInterval: Duration? = .seconds(5),
            reconnectInitialDelay: Duration = .milliseconds(100),
            reconnectMaximumDelay: Duration = .seconds(5),
            maximumMessageSize: Int = 512 * 1024 * 1024,
            tls: OVSDBTLSFiles? = nil
        ) {
            self.tls = tls
            self.requestTimeout = requestTimeout
            self.connectTimeout = connectTimeout
            self.echoInterval = echoInterval
            self.reconnectInitialDelay = reconnectInitialDelay
            self.reconnectMaximumDelay = reconnectMaximumDelay
            self.maximumMessageSize = maximumMessageSize
        }
    }

    private struct MonitorRegistration: Sendable {
        var id: String
        var database: String
        var requests: [String: OVSDBMonitorRequest]
    }

    private enum WaitCondition {
        case connected
        case cache(@Sendable (OVSDBCache) -> Bool)
    }

    private struct Waiter {
        var condition: WaitCondition
        var continuation: CheckedContinuation<OVSDBCache, any Error>
        var timeoutTask: Task<Void, Never>?
    }

    /// The server this client talks to.
    public nonisolated let endpoint: OVSDBEndpoint
    /// Timeouts, probe interval and backoff.
    public nonisolated let configuration: Configuration

    /// The current connection state.
    public private(set) var state: OVSDBConnectionState = .idle

    private let group: any EventLoopGroup
    private var connection: OVSDBConnection?
    private var generation = 0
    private var nextRequestID = 0
    private var nextMonitorNumber = 0
    private var nextWaiterID = 0
    private var schemas: [String: OVSDBDatabaseSchema] = [:]
    private var monitors: [MonitorRegistration] = []
    private var monitorRepliesInFlight: [Int: MonitorRegistration] = [:]
    private var cache = OVSDBCache()
    private var subscribers: [UUID: AsyncStream<OVSDBClientEvent>.Continuation] = [:]
    private var waiters: [Int: Waiter] = [:]
    private var supervisor: Task<Void, Never>?
    private var lastFailure: String?
    private var isClosed = false

    /// Creates a client for `endpoint`; nothing happens until `start()` or `connect()`.
    public init(
        endpoint: OVSDBEndpoint,
        configuration: Configuration = Configuration(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.endpoint = endpoint
        self.configuration = configuration
        self.group = eventLoopGroup
    }

    /// Creates a client for an endpoint string such as `unix:/var/run/openvswitch/db.sock`.
    public init(
        endpoint: String,
        configuration: Configuration = Configuration(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws {
        self.init(
            endpoint: try OVSDBEndpoint(parsing: endpoint), configuration: configuration,
            eventLoopGroup: eventLoopGroup)
    }

    // MARK: - Lifecycle

    /// Starts keeping a connection up in the background (idempotent); returns at once.
    public func start() {
        guard supervisor == nil, !isClosed else { return }
        supervisor = Task { await self.superviseConnection() }
    }

    /// Starts the client and waits until it is connected.
    ///
    /// On timeout this throws a `connectionFailed` error carrying the last
    /// failure, and the client keeps retrying in the background until `close()`.
    public func connect(timeout: Duration = .seconds(10)) async throws {
        start()
        _ = try await wait(for: .connected, timeout: timeout, method: nil)
    }

    /// Closes the connection and ends every event stream; the client cannot be reused.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        supervisor?.cancel()
        supervisor = nil
        connection?.close()
        connection = nil
        setState(.closed)
        for (_, waiter) in waiters {
            waiter.timeoutTask?.cancel()
            waiter.continuation.resume(throwing: error(.closed, method: nil, "the client was closed"))
        }
        waiters.removeAll()
        for (_, subscriber) in subscribers {
            subscriber.finish()
        }
        subscribers.removeAll()
    }

    /// A stream of state changes and cache changes, starting with the current state.
    ///
    /// Each call returns a new independent stream; it ends when the client closes.
    public func events() -> AsyncStream<OVSDBClientEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: OVSDBClientEvent.self)
        guard !isClosed else {
            continuation.yield(.stateChanged(.closed))
            continuation.finish()
            return stream
        }
        let id = UUID()
        subscribers[id] = continuation
        continuation.onTermination = { [weak self] _ in
            Task { await self?.removeSubscriber(id) }
        }
        continuation.yield(.stateChanged(state))
        return stream
    }

    // MARK: - Methods (RFC 7047 §4.1)

    /// Sends any JSON-RPC request and returns its `result`; the building block of the methods below.
    public func call(_ method: String, params: [JSONValue], timeout: Duration? = nil) async throws -> JSONValue {
        let connection = try requireConnection(method: method)
        return try await send(method, params: params, on: connection, timeout: timeout)
    }

    /// `list_dbs`: the names of the server's databases.
    public func listDatabases() async throws -> [String] {
        let result = try await call("list_dbs", params: [])
        guard case .array(let names) = result else {
            throw error(.protocolError, method: "list_dbs", "expected an array, found \(result.jsonText)")
        }
        return names.compactMap(\.stringValue)
    }

    /// `get_schema`: the schema of `database`, cached per connection.
    public func schema(for database: String) async throws -> OVSDBDatabaseSchema {
        if let schema = schemas[database] { return schema }
        let connection = try requireConnection(method: "get_schema")
        return try await fetchSchema(database, on: connection)
    }

    /// `echo`: sends a probe and checks the server echoes it back.
    public func echo() async throws {
        let probe: [JSONValue] = [.string("driftless-echo-\(nextRequestID)")]
        let reply = try await call("echo", params: probe)
        guard reply == .array(probe) else {
            throw error(.protocolError, method: "echo", "echo returned \(reply.jsonText)")
        }
    }

    /// `transact`: runs `transaction`'s operations atomically and returns their results.
    ///
    /// Values are encoded by the database schema (fetched once), so a
    /// wrong column or type fails before sending. A failed operation throws
    /// `operationFailed` with its index and the server's `error`/`details`.
    public func transact(_ transaction: OVSDBTransaction) async throws -> OVSDBTransactionResult {
        try await transact(database: transaction.database, operations: transaction.operations)
    }

    /// `transact` over an array of operations (see `transact(_:)`).
    public func transact(
        database: String, operations: [OVSDBOperation], timeout: Duration? = nil
    ) async throws -> OVSDBTransactionResult {
        let connection = try requireConnection(method: "transact")
        let schema = try await knownSchema(database, on: connection)
        var params: [JSONValue] = [.string(database)]
        params.reserveCapacity(operations.count + 1)
        for (index, operation) in operations.enumerated() {
            do {
                params.append(try operation.json(schema: schema))
            } catch let dataError as OVSDBDataError {
                var failure = error(.invalidData, method: "transact", dataError.message)
                failure.operationIndex = index
                failure.operationName = operation.name
                throw failure
            }
        }
        let reply = try await send("transact", params: params, on: connection, timeout: timeout)
        return try decodeTransactReply(reply, operations: operations, schema: schema)
    }

    /// `monitor`: watches `tables` of `database` and mirrors them in the cache.
    ///
    /// Returns once the initial rows are in the cache. The monitor is
    /// re-issued on every reconnect. A table may be monitored only once.
    public func monitor(database: String, tables: [String: OVSDBMonitorRequest]) async throws {
        let connection = try requireConnection(method: "monitor")
        let schema = try await knownSchema(database, on: connection)
        let monitored = Set(monitors.flatMap(\.requests.keys))
        for (table, request) in tables {
            guard let tableSchema = schema.tables[table] else {
                throw error(.invalidData, method: "monitor", "no table \(table) in database \(database)")
            }
            if monitored.contains(table) {
                throw error(.invalidData, method: "monitor", "table \(table) is already monitored")
            }
            for column in request.columns ?? [] where tableSchema.columns[column] == nil {
                throw error(.invalidData, method: "monitor", "no column \(column) in table \(table)")
            }
        }
        nextMonitorNumber += 1
        let registration = MonitorRegistration(
            id: "driftless-monitor-\(nextMonitorNumber)", database: database, requests: tables)
        monitors.append(registration)
        do {
            try await issueMonitor(registration, on: connection)
        } catch {
            monitors.removeAll { $0.id == registration.id }
            throw error
        }
    }

    /// `monitor` of those of `tables` no monitor covers yet; nothing when every one is covered. For the
    /// typed views over a database (`OpenVSwitch`, `OVNNorthbound`), which may be started more than once.
    public func monitorMissing(database: String, tables: [String: OVSDBMonitorRequest]) async throws {
        let monitored = monitoredTables
        let missing = tables.filter { !monitored.contains($0.key) }
        guard !missing.isEmpty else { return }
        try await monitor(database: database, tables: missing)
    }

    // MARK: - Cache

    /// The tables covered by a monitor (in the cache once connected).
    public var monitoredTables: Set<String> {
        Set(monitors.flatMap(\.requests.keys))
    }

    /// The monitored tables as of now; throws `notSynchronized` unless connected.
    public func cacheSnapshot() throws -> OVSDBCache {
        guard state == .connected else {
            throw error(.notSynchronized, method: nil, "the cache is not in sync (state: \(state))")
        }
        return cache
    }

    /// The cached rows of `table`; throws `notSynchronized` unless connected.
    public func rows(in table: String) throws -> [UUID: OVSDBRow] {
        try cacheSnapshot().rows(in: table)
    }

    /// Waits until the client is connected and `predicate` holds for the cache, then returns it.
    ///
    /// Use it after a `transact` to wait for the change to come back
    /// through the monitor. Throws `timeout` when it does not happen in time.
    public func waitForCache(
        timeout: Duration = .seconds(10), until predicate: @escaping @Sendable (OVSDBCache) -> Bool
    ) async throws -> OVSDBCache {
        try await wait(for: .cache(predicate), timeout: timeout, method: nil)
    }

    // MARK: - Connection supervision

    private func superviseConnection() async {
        var attempt = 0
        while !isClosed && !Task.isCancelled {
            setState(.connecting(attempt: attempt))
            var established: OVSDBConnection?
            do {
                let connection = try await OVSDBConnection.connect(
                    to: endpoint, group: group, timeout: TimeAmount(configuration.connectTimeout),
                    maximumFrameSize: configuration.maximumMessageSize, tls: configuration.tls)
                established = connection
                if isClosed {
                    connection.close()
                    return
                }
                generation += 1
                let currentGeneration = generation
                self.connection = connection
                Task { await self.consumeEvents(of: connection, generation: currentGeneration) }
                setState(.synchronizing)
                try await resynchronize(on: connection)
                attempt = 0
                lastFailure = nil
                setState(.connected)
                let prober = Task { await self.probe(connection) }
                await connection.waitUntilClosed()
                prober.cancel()
                if self.connection === connection { self.connection = nil }
                let reason = lastFailure ?? "connection to \(endpoint) lost"
                if !isClosed { setState(.disconnected(reason: reason)) }
            } catch {
                established?.close()
                if let established, self.connection === established { self.connection = nil }
                lastFailure = "\(error)"
                if !isClosed { setState(.disconnected(reason: "\(error)")) }
            }
            if isClosed { return }
            let delay = backoff(attempt: attempt)
            attempt += 1
            try? await Task.sleep(for: delay)
        }
    }

    private func backoff(attempt: Int) -> Duration {
        let initial = configuration.reconnectInitialDelay
        let maximum = configuration.reconnectMaximumDelay
        var delay = initial
        for _ in 0..<min(attempt, 30) {
            delay *= 2
            if delay >= maximum { return maximum }
        }
        return min(delay, maximum)
    }

    /// Re-issues every registered monitor on a fresh connection; each reply replaces its tables.
    private func resynchronize(on connection: OVSDBConnection) async throws {
        schemas.removeAll()
        for registration in monitors {
            try await issueMonitor(registration, on: connection)
        }
    }

    private func issueMonitor(_ registration: MonitorRegistration, on connection: OVSDBConnection) async throws {
        if schemas[registration.database] == nil {
            _ = try await fetchSchema(registration.database, on: connection)
        }
        let requests = JSONValue.object(registration.requests.mapValues(\.json))
        let id = takeRequestID()
        monitorRepliesInFlight[id] = registration
        defer { monitorRepliesInFlight[id] = nil }
        _ = try await send(
            "monitor", params: [.string(registration.database), .string(registration.id), requests],
            on: connection, timeout: nil, id: id, routeThroughEvents: true)
    }

    /// Sends an `echo` every `echoInterval`; closes the connection when one goes unanswered.
    private func probe(_ connection: OVSDBConnection) async {
        guard let interval = configuration.echoInterval else { return }
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            if Task.isCancelled { return }
            do {
                _ = try await send("echo", params: [.string("driftless-probe")], on: connection, timeout: interval)
            } catch let failure as OVSDBError where failure.code == .timeout {
                lastFailure = "echo probe unanswered for \(interval); reconnecting"
                connection.close()
                return
            } catch {
                return
            }
        }
    }

    private func consumeEvents(of connection: OVSDBConnection, generation eventGeneration: Int) async {
        for await event in connection.events {
            handle(event, generation: eventGeneration)
        }
    }

    private func handle(_ event: OVSDBConnectionEvent, generation eventGeneration: Int) {
        let current = eventGeneration == generation
        switch event {
        case .notification(let method, let params):
            guard current, method == "update", case .array(let items) = params, items.count == 2,
                let monitorID = items[0].stringValue,
                let registration = monitors.first(where: { $0.id == monitorID })
            else { return }
            do {
                let changes = try cache.apply(items[1], schema: schemas[registration.database])
                emit(changes)
            } catch {
                lastFailure = "undecodable update from server: \(error)"
                connection?.close()
            }
        case .routedReply(let id, let result, let promise):
            guard current, let registration = monitorRepliesInFlight[id] else {
                promise.fail(self.error(.connectionLost, method: "monitor", "reply from a closed connection"))
                return
            }
            switch result {
            case .success(let updates):
                do {
                    let changes = try cache.replace(
                        tables: Set(registration.requests.keys), with: updates,
                        schema: schemas[registration.database])
                    emit(changes)
                    promise.succeed(updates)
                } catch {
                    promise.fail(self.error(.protocolError, method: "monitor", "undecodable monitor reply: \(error)"))
                }
            case .failure(let failure):
                promise.fail(failure)
            }
        case .closed(let reason):
            if current, lastFailure == nil { lastFailure = reason }
        }
    }

    // MARK: - Requests

    private func requireConnection(method: String) throws -> OVSDBConnection {
        if isClosed { throw error(.closed, method: method, "the client was closed") }
        guard let connection else {
            let why = lastFailure.map { "; last failure: \($0)" } ?? ""
            throw error(.notConnected, method: method, "not connected (state: \(state))\(why)")
        }
        return connection
    }

    private func takeRequestID() -> Int {
        nextRequestID += 1
        return nextRequestID
    }

    private func send(
        _ method: String, params: [JSONValue], on connection: OVSDBConnection, timeout: Duration?,
        id: Int? = nil, routeThroughEvents: Bool = false
    ) async throws -> JSONValue {
        let requestID = id ?? takeRequestID()
        return try await connection.call(
            id: requestID, method: method, params: params,
            timeout: TimeAmount(timeout ?? configuration.requestTimeout),
            routeThroughEvents: routeThroughEvents)
    }

    private func knownSchema(_ database: String, on connection: OVSDBConnection) async throws
        -> OVSDBDatabaseSchema
    {
        if let schema = schemas[database] { return schema }
        return try await fetchSchema(database, on: connection)
    }

    private func fetchSchema(_ database: String, on connection: OVSDBConnection) async throws
        -> OVSDBDatabaseSchema
    {
        let result = try await send("get_schema", params: [.string(database)], on: connection, timeout: nil)
        do {
            let schema = try OVSDBDatabaseSchema(json: result)
            schemas[database] = schema
            return schema
        } catch let dataError as OVSDBDataError {
            throw error(.protocolError, method: "get_schema", "unreadable schema: \(dataError.message)")
        }
    }

    private func decodeTransactReply(
        _ reply: JSONValue, operations: [OVSDBOperation], schema: OVSDBDatabaseSchema
    ) throws -> OVSDBTransactionResult {
        guard case .array(let items) = reply else {
            throw error(.protocolError, method: "transact", "expected a result array, found \(reply.jsonText)")
        }
        for (index, item) in items.enumerated() {
            guard case .object(let members) = item, let serverError = members["error"], !serverError.isNull else {
                continue
            }
            let name = index < operations.count ? operations[index].name : "commit"
            let table = index < operations.count ? operations[index].table.map { " on \($0)" } ?? "" : ""
            throw OVSDBError(
                code: .operationFailed, method: "transact", endpoint: endpoint.description,
                message: "operation \(index) (\(name)\(table)) failed; the transaction was not committed",
                serverError: serverError.stringValue ?? serverError.jsonText,
                details: members["details"]?.stringValue, operationIndex: index, operationName: name)
        }
        guard items.count >= operations.count else {
            throw error(
                .protocolError, method: "transact",
                "expected \(operations.count) results, found \(items.count)")
        }
        var results: [OVSDBOperationResult] = []
        results.reserveCapacity(operations.count)
        var named: [String: UUID] = [:]
        for (operation, item) in zip(operations, items) {
            do {
                switch operation {
                case .insert(_, _, let uuidName):
                    guard let uuidJSON = item["uuid"], case .uuid(let uuid) = try OVSDBAtom(json: uuidJSON) else {
                        throw OVSDBDataError("insert result without uuid: \(item.jsonText)")
                    }
                    if let uuidName { named[uuidName] = uuid }
                    results.append(.inserted(uuid))
                case .select(let table, _, _):
                    let tableSchema = schema.tables[table]
                    let rows = try (item["rows"]?.arrayValue ?? []).map {
                        try OVSDBRowCoding.row(from: $0, table: tableSchema)
                    }
                    results.append(.rows(rows))
                case .update, .mutate, .delete:
                    results.append(.count(Int(item["count"]?.integerValue ?? 0)))
                case .wait, .commit, .abort, .comment, .assert:
                    results.append(.empty)
                }
            } catch let dataError as OVSDBDataError {
                throw error(.protocolError, method: "transact", dataError.message)
            }
        }
        return OVSDBTransactionResult(results: results, namedUUIDs: named)
    }

    // MARK: - State, events and waiters

    private func setState(_ newState: OVSDBConnectionState) {
        guard newState != state else { return }
        state = newState
        broadcast(.stateChanged(newState))
        resumeSatisfiedWaiters()
    }

    private func emit(_ changes: [OVSDBRowChange]) {
        guard !changes.isEmpty else { return }
        broadcast(.rowsChanged(changes))
        resumeSatisfiedWaiters()
    }

    private func broadcast(_ event: OVSDBClientEvent) {
        for (_, subscriber) in subscribers {
            subscriber.yield(event)
        }
    }

    private func removeSubscriber(_ id: UUID) {
        subscribers[id] = nil
    }

    private func isSatisfied(_ condition: WaitCondition) -> Bool {
        guard state == .connected else { return false }
        switch condition {
        case .connected: return true
        case .cache(let predicate): return predicate(cache)
        }
    }

    private func wait(for condition: WaitCondition, timeout: Duration, method: String?) async throws -> OVSDBCache {
        if isClosed { throw error(.closed, method: method, "the client was closed") }
        if isSatisfied(condition) { return cache }
        nextWaiterID += 1
        let id = nextWaiterID
        return try await withCheckedThrowingContinuation { continuation in
            let timeoutTask = Task {
                try? await Task.sleep(for: timeout)
                if !Task.isCancelled { self.expireWaiter(id, after: timeout) }
            }
            waiters[id] = Waiter(condition: condition, continuation: continuation, timeoutTask: timeoutTask)
        }
    }

    private func expireWaiter(_ id: Int, after timeout: Duration) {
        guard let waiter = waiters.removeValue(forKey: id) else { return }
        let failure: OVSDBError
        switch waiter.condition {
        case .connected:
            failure = error(
                .connectionFailed, method: nil,
                "not connected within \(timeout) (state: \(state))"
                    + (lastFailure.map { "; last failure: \($0)" } ?? ""))
        case .cache:
            failure = error(.timeout, method: nil, "the cache did not reach the expected state within \(timeout)")
        }
        waiter.continuation.resume(throwing: failure)
    }

    private func resumeSatisfiedWaiters() {
        guard !waiters.isEmpty, state == .connected else { return }
        for (id, waiter) in waiters where isSatisfied(waiter.condition) {
            waiters[id] = nil
            waiter.timeoutTask?.cancel()
            waiter.continuation.resume(returning: cache)
        }
    }

    private func error(_ code: OVSDBError.Code, method: String?, _ message: String) -> OVSDBError {
        OVSDBError(code: code, method: method, endpoint: endpoint.description, message: message)
    }
}
