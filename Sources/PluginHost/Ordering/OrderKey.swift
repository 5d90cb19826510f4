/// An event's place in the one total order every plugin sees: event time first, then an order
/// id (the event's id; for an emitted event its cause's order id, the emitter's name and the
/// emission's index). Ids compare byte by byte, as PostgreSQL's "C" collation does, so the
/// database and the host agree.
///
/// Why the emitted form: `cause/emitter/0001` sorts after `cause` and before any other event
/// (every other id differs from `cause` within its length, or is longer with a character
/// above `/`), so an emitted event takes its cause's place in time, right behind it, however
/// late it arrives. See docs/adr/0014-event-time-order-and-causal-delivery.md.
public struct OrderKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var time: Int64
    public var id: String

    public init(time: Int64, id: String) {
        self.time = time
        self.id = id
    }

    /// Below every event.
    public static let bottom = OrderKey(time: .min, id: "")
    /// Above every event.
    public static let top = OrderKey(time: .max, id: "")

    public static func < (lhs: OrderKey, rhs: OrderKey) -> Bool {
        if lhs.time != rhs.time { return lhs.time < rhs.time }
        return lhs.id.utf8.lexicographicallyPrecedes(rhs.id.utf8)
    }

    /// The smallest key above this one (ids never contain control characters, so nothing sorts
    /// between `id` and `id + "\u{1}"`).
    public var successor: OrderKey { self == .top ? .top : OrderKey(time: time, id: id + "\u{1}") }

    /// The order id of the `index`th event `emitter` emitted while handling the event whose
    /// order id is `cause`.
    public static func emissionID(cause: String, emitter: String, index: Int) -> String {
        let digits = String(index)
        return cause + "/" + emitter + "/" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    public var description: String {
        switch self {
        case .bottom: return "bottom"
        case .top: return "top"
        default: return "\(time)/\(id)"
        }
    }
}
