/// Declared volumes on their hosts: created (from their image, if any) at the path the storage driver
/// tells, grown, or an error when they would shrink or take the name of a volume Driftless does not manage.
enum VolumePhase {
    struct Result {
        /// Each volume as instances attach it: where it is, or will be once created.
        var attachments: [ObjectID: DiskAttachment] = [:]
        var steps: [(PlannedAction, ApplyStep)] = []
        var diagnostics: [Diagnostic] = []
    }

    static func run(_ context: PlanContext, _ placement: Placement, images: ImagePhase.Result) -> Result {
        var result = Result()
        for volume in context.desired.volumes {
            guard let host = placement.host(ofVolume: volume.id) else { continue }
            let name = StorageNaming.volumeName(project: volume.project ?? "", name: volume.name, format: volume.spec.format)
            if let storage = host.storage.value, storage.unmanagedVolumeNames.contains(name) {
                result.diagnostics.append(Diagnostic(.error, at: volume.source?.location, field: "metadata.name",
                                                     "host \(host.target.name) has a volume \(name) that Driftless does not manage; it is never overwritten (which volumes are Driftless's is recorded in the state directory: is this the one that made it?)"))
                continue
            }
            if placement.movingVolumes.contains(volume.id) {
                // Copied by its instance's move, at the path the new host's pool gives it.
                result.attachments[volume.id] = DiskAttachment(path: host.newVolumePath(name), format: volume.spec.format, volume: volume.id)
                continue
            }
            let observed = context.volumesByHost[host.target.name]?[volume.id]
            result.attachments[volume.id] = DiskAttachment(path: observed?.path ?? host.newVolumePath(name), format: volume.spec.format,
                                                           volume: volume.id)
            if let observed {
                if volume.spec.size > observed.capacity {
                    let action = PlannedAction(action: .update, id: volume.id, host: host.target.name, source: volume.source?.location,
                                               changes: [FieldChange(field: "size", before: observed.capacity.description,
                                                                     after: volume.spec.size.description, effect: .live)])
                    result.steps.append((action, .resizeVolume(host: host.target.name, observed, volume.spec.size)))
                } else if volume.spec.size < observed.capacity {
                    result.diagnostics.append(Diagnostic(.error, at: volume.location(of: "spec.size"), field: "spec.size",
                                                         "volume \(volume.id.qualifiedName) is \(observed.capacity) on \(host.target.name); volumes cannot shrink to \(volume.spec.size)"))
                }
                continue
            }
            let base = volume.spec.image.flatMap { context.desired.image(named: $0, project: volume.project) }
                .flatMap { images.image($0.id, on: host.target.name) }
            let request = VolumeRequest(id: volume.id, volumeName: name, size: volume.spec.size, format: volume.spec.format,
                                        baseImage: base, deletionPolicy: volume.spec.deletionPolicy)
            let action = PlannedAction(action: .create, id: volume.id, host: host.target.name, source: volume.source?.location,
                                       changes: [FieldChange(field: "size", before: nil, after: volume.spec.size.description),
                                                 FieldChange(field: "format", before: nil, after: volume.spec.format.rawValue),
                                                 FieldChange(field: "deletionPolicy", before: nil, after: volume.spec.deletionPolicy.rawValue)])
            result.steps.append((action, .createVolume(host: host.target.name, request)))
        }
        return result
    }
}
