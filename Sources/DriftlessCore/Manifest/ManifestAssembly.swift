extension ManifestLoader {
    /// The step between decoding files and checking across objects: which declaration of each identity
    /// counts (the first in path order; later ones are duplicates), and the objects declared, by identity
    /// and in the order they were written.
    ///
    /// Kept with a loaded commit so that the next one, a few files apart, patches it (`patched`) instead
    /// of assembling every file again.
    public struct Assembly: Sendable {
        /// A document: its file's path and its position in the file's `documents`.
        struct DocumentRef: Hashable, Sendable {
            var path: String
            var index: Int
        }

        /// Declared valid objects (never the default host), sorted by identity.
        var declared = DesiredState()
        /// The positions in `declared` of each kind's objects in the order they were written (path, then
        /// position in the file): the validator reports a conflict on the later of two declarations.
        var written = WrittenOrder()
        /// Objects of invalid documents, read leniently, in the order they were written.
        var partial = DesiredState()
        var invalidPaths: [ObjectID: Set<String>] = [:]
        /// The identities declared, valid or not (the default host's is not among them).
        var known: Set<ObjectID> = []
        /// How many Host identities are declared; with none, the default host stands in.
        var hostCount = 0
        /// Identities declared more than once, and the error reported on each later declaration.
        var duplicated: Set<ObjectID> = []
        var duplicates: [DocumentRef: Diagnostic] = [:]

        /// Whether no Host is declared, so that the default `local` host stands in.
        var usesDefaultHost: Bool { hostCount == 0 }

        /// Assembles every file of `files` (ordered by path, as `decode` returns them).
        public init(_ files: [DecodedFile]) {
            /// Where each identity is declared first, for the message on a later declaration.
            var firstSeen: [ObjectID: ObjectSource] = [:]
            firstSeen.reserveCapacity(files.reduce(0) { $0 + $1.documents.count })
            for file in files {
                for index in file.documents.indices {
                    let result = file.documents[index]
                    guard let id = result.id, let source = result.source else { continue }
                    if let first = firstSeen[id] {
                        duplicated.insert(id)
                        duplicates[DocumentRef(path: file.path, index: index)] = Diagnostic(
                            .error, at: source.location(of: "metadata.name"), field: "metadata.name",
                            "duplicate \(id): already declared at \(first.location)",
                            hint: "names are unique per kind\(id.kind.scope == .cluster ? "" : " within a project")")
                        continue
                    }
                    firstSeen[id] = source
                    if id.kind == .host { hostCount += 1 }
                    if let object = result.object { declared.add(object) }
                    if let object = result.partial {
                        partial.add(object)
                        invalidPaths[id] = result.invalidPaths
                    }
                }
            }
            known = Set(firstSeen.keys)
            // Added file by file in path order, document by document: as written. Sort by identity and
            // remember where each went.
            written.hosts = Self.sortByID(&declared.hosts)
            written.projects = Self.sortByID(&declared.projects)
            written.users = Self.sortByID(&declared.users)
            written.images = Self.sortByID(&declared.images)
            written.networks = Self.sortByID(&declared.networks)
            written.volumes = Self.sortByID(&declared.volumes)
            written.instances = Self.sortByID(&declared.instances)
        }

        /// This assembly with the documents of `removed` (the earlier versions of the changed files) taken
        /// out and those of `added` (their new versions, and new files) put in: the same as assembling
        /// every file again, for the price of the changed ones.
        ///
        /// Nil when an identity of a changed file is declared twice, before or after the change: which
        /// declaration counts then depends on every file, and only assembling them all again says.
        public func patched(removing removed: [DecodedFile], adding added: [DecodedFile]) -> Assembly? {
            var freed: Set<ObjectID> = []
            for file in removed {
                for result in file.documents {
                    guard let id = result.id, result.source != nil else { continue }
                    if duplicated.contains(id) { return nil }
                    freed.insert(id)
                }
            }
            var claimed: Set<ObjectID> = []
            for file in added {
                for result in file.documents {
                    guard let id = result.id, result.source != nil else { continue }
                    let declaredElsewhere = known.contains(id) && !freed.contains(id)
                    if duplicated.contains(id) || declaredElsewhere || !claimed.insert(id).inserted { return nil }
                }
            }

            var assembly = self
            // An object edited where it was (same identity, file and position: the usual edit) is replaced
            // in place, without moving the objects after it.
            var edited: [ObjectID: AnyManifestObject] = [:]
            for file in added {
                for result in file.documents {
                    if let id = result.id, result.source != nil, let object = result.object { edited[id] = object }
                }
            }
            var replaced: Set<ObjectID> = []
            for file in removed {
                for result in file.documents {
                    guard let id = result.id, let source = result.source, result.object != nil, let object = edited[id],
                          WrittenOrder.key(object.source) == WrittenOrder.key(source), assembly.replace(object)
                    else { continue }
                    replaced.insert(id)
                }
            }
            for file in removed {
                for result in file.documents {
                    guard let id = result.id, let source = result.source else { continue }
                    assembly.known.remove(id)
                    if id.kind == .host { assembly.hostCount -= 1 }
                    if result.object != nil, !replaced.contains(id) { assembly.remove(id, declaredAt: source) }
                    if result.partial != nil {
                        assembly.partial.removeWritten(id, declaredAt: source)
                        assembly.invalidPaths[id] = nil
                    }
                }
            }
            for file in added {
                for result in file.documents {
                    guard let id = result.id, result.source != nil else { continue }
                    assembly.known.insert(id)
                    if id.kind == .host { assembly.hostCount += 1 }
                    if let object = result.object, !replaced.contains(id) { assembly.insert(object) }
                    if let object = result.partial {
                        assembly.partial.insertWritten(object)
                        assembly.invalidPaths[id] = result.invalidPaths
                    }
                }
            }
            return assembly
        }

        /// Takes the object `id` names, declared at `source`, out of `declared` and `written`.
        mutating func remove(_ id: ObjectID, declaredAt source: ObjectSource) {
            switch id.kind {
            case .host: Self.remove(id, declaredAt: source, from: &declared.hosts, written: &written.hosts)
            case .project: Self.remove(id, declaredAt: source, from: &declared.projects, written: &written.projects)
            case .user: Self.remove(id, declaredAt: source, from: &declared.users, written: &written.users)
            case .image: Self.remove(id, declaredAt: source, from: &declared.images, written: &written.images)
            case .network: Self.remove(id, declaredAt: source, from: &declared.networks, written: &written.networks)
            case .volume: Self.remove(id, declaredAt: source, from: &declared.volumes, written: &written.volumes)
            case .instance: Self.remove(id, declaredAt: source, from: &declared.instances, written: &written.instances)
            }
        }

        /// Puts `object` into `declared` and `written`.
        mutating func insert(_ object: AnyManifestObject) {
            switch object {
            case let .host(o): Self.insert(o, into: &declared.hosts, written: &written.hosts)
            case let .project(o): Self.insert(o, into: &declared.projects, written: &written.projects)
            case let .user(o): Self.insert(o, into: &declared.users, written: &written.users)
            case let .image(o): Self.insert(o, into: &declared.images, written: &written.images)
            case let .network(o): Self.insert(o, into: &declared.networks, written: &written.networks)
            case let .volume(o): Self.insert(o, into: &declared.volumes, written: &written.volumes)
            case let .instance(o): Self.insert(o, into: &declared.instances, written: &written.instances)
            }
        }

        /// Puts `object` in the place of the declared object of its identity; false when there is none.
        mutating func replace(_ object: AnyManifestObject) -> Bool {
            func replace<S>(_ object: ManifestObject<S>, in objects: inout [ManifestObject<S>]) -> Bool {
                let position = objects.partitionPoint { !($0.id < object.id) }
                guard position < objects.count, objects[position].id == object.id else { return false }
                objects[position] = object
                return true
            }
            switch object {
            case let .host(o): return replace(o, in: &declared.hosts)
            case let .project(o): return replace(o, in: &declared.projects)
            case let .user(o): return replace(o, in: &declared.users)
            case let .image(o): return replace(o, in: &declared.images)
            case let .network(o): return replace(o, in: &declared.networks)
            case let .volume(o): return replace(o, in: &declared.volumes)
            case let .instance(o): return replace(o, in: &declared.instances)
            }
        }

        /// Sorts `objects` (as written) by identity; returns the new position of each, in the order written.
        static func sortByID<S>(_ objects: inout [ManifestObject<S>]) -> [Int] {
            let byID = objects.indices.sorted { objects[$0].id < objects[$1].id }
            var positions = [Int](repeating: 0, count: byID.count)
            for (position, writtenIndex) in byID.enumerated() { positions[writtenIndex] = position }
            objects = byID.map { objects[$0] }
            return positions
        }

        static func remove<S>(_ id: ObjectID, declaredAt source: ObjectSource, from objects: inout [ManifestObject<S>],
                              written: inout [Int]) {
            let position = objects.partitionPoint { !($0.id < id) }
            guard position < objects.count, objects[position].id == id else { return }
            let key = WrittenOrder.key(source)
            let index = written.partitionPoint { !(WrittenOrder.key(objects[$0].source) < key) }
            if index < written.count, written[index] == position { written.remove(at: index) }
            for i in written.indices where written[i] > position { written[i] -= 1 }
            objects.remove(at: position)
        }

        static func insert<S>(_ object: ManifestObject<S>, into objects: inout [ManifestObject<S>], written: inout [Int]) {
            let position = objects.partitionPoint { !($0.id < object.id) }
            let key = WrittenOrder.key(object.source)
            let index = written.partitionPoint { !(WrittenOrder.key(objects[$0].source) < key) }
            for i in written.indices where written[i] >= position { written[i] += 1 }
            written.insert(position, at: index)
            objects.insert(object, at: position)
        }
    }
}

/// For each kind of a `DesiredState` sorted by identity, the positions of its objects in the order they
/// were written: by file path, then position in the file.
struct WrittenOrder: Sendable {
    var hosts: [Int] = []
    var projects: [Int] = []
    var users: [Int] = []
    var images: [Int] = []
    var networks: [Int] = []
    var volumes: [Int] = []
    var instances: [Int] = []

    /// What orders declarations as written.
    static func key(_ source: ObjectSource?) -> (String, Int) {
        (source?.file ?? "", source?.document ?? 0)
    }
}

extension DesiredState {
    /// Inserts `object` among objects of its kind kept as written.
    mutating func insertWritten(_ object: AnyManifestObject) {
        func insert<S>(_ object: ManifestObject<S>, into objects: inout [ManifestObject<S>]) {
            let key = WrittenOrder.key(object.source)
            objects.insert(object, at: objects.partitionPoint { !(WrittenOrder.key($0.source) < key) })
        }
        switch object {
        case let .host(o): insert(o, into: &hosts)
        case let .project(o): insert(o, into: &projects)
        case let .user(o): insert(o, into: &users)
        case let .image(o): insert(o, into: &images)
        case let .network(o): insert(o, into: &networks)
        case let .volume(o): insert(o, into: &volumes)
        case let .instance(o): insert(o, into: &instances)
        }
    }

    /// Removes the object `id` names, declared at `source`, from objects of its kind kept as written.
    mutating func removeWritten(_ id: ObjectID, declaredAt source: ObjectSource) {
        func remove<S>(from objects: inout [ManifestObject<S>]) {
            let key = WrittenOrder.key(source)
            let i = objects.partitionPoint { !(WrittenOrder.key($0.source) < key) }
            if i < objects.count, objects[i].id == id { objects.remove(at: i) }
        }
        switch id.kind {
        case .host: remove(from: &hosts)
        case .project: remove(from: &projects)
        case .user: remove(from: &users)
        case .image: remove(from: &images)
        case .network: remove(from: &networks)
        case .volume: remove(from: &volumes)
        case .instance: remove(from: &instances)
        }
    }
}

extension Array {
    /// The first index whose element satisfies `belongsAfter`, for an array partitioned by it (every element
    /// that does not comes first): a binary search.
    func partitionPoint(_ belongsAfter: (Element) -> Bool) -> Int {
        var (low, high) = (startIndex, endIndex)
        while low < high {
            let middle = low + (high - low) / 2
            if belongsAfter(self[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
