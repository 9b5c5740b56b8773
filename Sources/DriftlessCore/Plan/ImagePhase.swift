/// The images each host needs, for the instances placed on it and the volumes made from an image there:
/// each imported once per host, unless the host's image pool has it already.
enum ImagePhase {
    struct Result {
        /// Per host name, each needed image as found in the image pool or as it will be once imported (at
        /// the path the storage driver tells).
        var images: [String: [ObjectID: ObservedImage]] = [:]
        var steps: [(PlannedAction, ApplyStep)] = []

        /// The image `id` on the host named `host`, when that host needs it.
        func image(_ id: ObjectID, on host: String) -> ObservedImage? { images[host]?[id] }
    }

    static func run(_ context: PlanContext, _ placement: Placement) -> Result {
        let desired = context.desired
        var needed: [String: Set<ObjectID>] = [:]
        for instance in desired.instances {
            if let image = desired.image(named: instance.spec.image, project: instance.project),
               let host = placement.host(ofInstance: instance.id) {
                needed[host.target.name, default: []].insert(image.id)
            }
        }
        for volume in desired.volumes {
            if let name = volume.spec.image, let image = desired.image(named: name, project: volume.project),
               let host = placement.host(ofVolume: volume.id) {
                needed[host.target.name, default: []].insert(image.id)
            }
        }
        var result = Result()
        for host in context.hosts {
            for id in (needed[host.target.name] ?? []).sorted() {
                guard let image = desired.images.first(where: { $0.id == id }) else { continue }
                let request = ImageRequest(id: image.id, source: image.spec.source, sha256: image.spec.sha256, format: image.spec.format)
                if let existing = host.storage.value?.images.first(where: { $0.volumeName == request.volumeName }) {
                    result.images[host.target.name, default: [:]][id] = existing
                    continue
                }
                result.images[host.target.name, default: [:]][id] = ObservedImage(
                    id: id, volumeName: request.volumeName, path: host.newImagePath(request.volumeName), sha256: image.spec.sha256,
                    format: image.spec.format, size: image.spec.minDisk ?? .zero)
                let action = PlannedAction(action: .create, id: id, host: host.target.name, source: image.source?.location,
                                           changes: [FieldChange(field: "sha256", before: nil, after: String(image.spec.sha256.prefix(12)))])
                result.steps.append((action, .importImage(host: host.target.name, request)))
            }
        }
        return result
    }
}
