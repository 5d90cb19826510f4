/// Merges a plugin's partitions into event-time order (a k-way merge of per-partition FIFO
/// queues), so the order a plugin sees does not depend on how many partitions the topic has,
/// how their fetches interleave, or which host reads them.
///
/// - An event is released once no partition still being read can bring an earlier one: every
///   partition that is not caught up has shown a key at least as large (its later events come
///   after, as long as each partition is in time order). A caught-up partition holds nothing
///   back: on a topic that is already written (a replay) it has truly ended.
/// - Within one partition the order is never changed: events of one key stay in the order they
///   were written even if their times go backwards (they are then "late" for the others).
///
/// Pure logic; the Kafka feed supplies which partitions are assigned and caught up.
struct EventTimeMerger {
    private var queues: [TopicPartition: EventQueue] = [:]
    private var lastSeen: [TopicPartition: OrderKey] = [:]
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    mutating func add(_ event: Event, from partition: TopicPartition) {
        queues[partition, default: EventQueue()].append(event)
        let key = event.orderKey
        if let seen = lastSeen[partition], seen >= key {} else { lastSeen[partition] = key }
        count += 1
    }

    /// The partition whose front event comes first, if that event may be released now.
    func releasable(assigned: [TopicPartition], isCaughtUp: (TopicPartition) -> Bool) -> TopicPartition? {
        guard let (partition, key) = front() else { return nil }
        for other in assigned where other != partition && (queues[other]?.isEmpty ?? true) && !isCaughtUp(other) {
            guard let seen = lastSeen[other], seen >= key else { return nil }
        }
        return partition
    }

    /// The offset of `partition`'s front event (nil: nothing queued there).
    func frontOffset(of partition: TopicPartition) -> Int64? { queues[partition]?.first?.position?.offset }

    /// The key of `partition`'s front event.
    func frontKey(of partition: TopicPartition) -> OrderKey? { queues[partition]?.first?.orderKey }

    /// Removes and returns the front event of `partition`.
    mutating func pop(_ partition: TopicPartition) -> Event? {
        guard let event = queues[partition]?.removeFirst(upTo: 1).first else { return nil }
        count -= 1
        return event
    }

    /// Every key this plugin may still receive from its input is at least this: the next event
    /// to release, or just above the last key seen of a partition still being read (bottom
    /// while such a partition has shown nothing); top when everything read is released and every
    /// partition is caught up.
    func inputFrontier(assigned: [TopicPartition], isCaughtUp: (TopicPartition) -> Bool) -> OrderKey {
        // The fronts only: a late event queued behind later ones of its partition is not waited
        // for (that could deadlock two plugins); what it emits is taken late (see CausalView.late).
        var frontier = front()?.1 ?? .top
        for partition in assigned where (queues[partition]?.isEmpty ?? true) && !isCaughtUp(partition) {
            frontier = min(frontier, lastSeen[partition]?.successor ?? .bottom)
        }
        return frontier
    }

    /// Forgets `partitions` (revoked): their queued events are dropped, to be read by the next owner.
    @discardableResult
    mutating func drop(_ partitions: Set<TopicPartition>) -> Int {
        var dropped = 0
        for partition in partitions {
            dropped += queues.removeValue(forKey: partition)?.count ?? 0
            lastSeen[partition] = nil
        }
        count -= dropped
        return dropped
    }

    /// Forgets everything (a reposition after enable, or a handover).
    mutating func reset() {
        queues = [:]
        lastSeen = [:]
        count = 0
    }

    private func front() -> (TopicPartition, OrderKey)? {
        var best: (TopicPartition, OrderKey)?
        for (partition, queue) in queues {
            guard let key = queue.first?.orderKey else { continue }
            if let current = best, !(key < current.1) { continue }
            best = (partition, key)
        }
        return best
    }
}
