/// Which offsets of one partition a plugin has finished, so the committed offset never passes
/// an event that is still queued or in flight (at-least-once, in any order of completion).
struct PartitionProgress: Sendable {
    /// Offsets read and not yet settled.
    private(set) var inFlight: Set<Int64> = []
    /// The highest offset read.
    private(set) var highestRead: Int64 = -1
    /// The offset last committed (the next one to read).
    var committed: Int64 = -1

    /// Starts the partition at `offset` (read from where the plugin's state says it stopped):
    /// everything before counts as done, so the group's committed offset catches up.
    mutating func start(at offset: Int64) {
        highestRead = max(highestRead, offset - 1)
    }

    mutating func read(_ offset: Int64) {
        inFlight.insert(offset)
        highestRead = max(highestRead, offset)
    }

    /// Marks `offset` handled (or dead-lettered, or not for this plugin).
    mutating func settle(_ offset: Int64) { inFlight.remove(offset) }

    /// The offset to commit: the oldest one still open, else one past the highest read.
    var committable: Int64? {
        guard highestRead >= 0 else { return nil }
        return inFlight.min() ?? highestRead + 1
    }
}
