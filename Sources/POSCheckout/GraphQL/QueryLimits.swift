import GraphQL

/// Depth and size limits for GraphQL documents, checked before execution: a deep or wide
/// query is refused whole, so it costs nothing (GraphQL has no such rule of its own).
struct QueryLimits {
    let maxDepth: Int
    let maxFields: Int

    /// Why the document is over a limit, or nil.
    func problem(in document: Document) -> String? {
        var fragments: [String: FragmentDefinition] = [:]
        for case let fragment as FragmentDefinition in document.definitions { fragments[fragment.name.value] = fragment }
        var fields = 0
        for case let operation as OperationDefinition in document.definitions {
            let depth = Self.depth(operation.selectionSet, fragments, [], &fields, cap: maxFields + 1)
            if depth > maxDepth { return "the query is \(depth) levels deep; at most \(maxDepth) are allowed" }
        }
        if fields > maxFields { return "the query selects more than \(maxFields) fields" }
        return nil
    }

    private static func depth(_ set: SelectionSet, _ fragments: [String: FragmentDefinition], _ seen: Set<String>, _ fields: inout Int, cap: Int) -> Int {
        var deepest = 0
        for selection in set.selections {
            if fields > cap { break }
            if let field = selection as? GraphQL.Field {
                fields += 1
                let below = field.selectionSet.map { depth($0, fragments, seen, &fields, cap: cap) } ?? 0
                deepest = max(deepest, 1 + below)
            } else if let inline = selection as? InlineFragment {
                deepest = max(deepest, depth(inline.selectionSet, fragments, seen, &fields, cap: cap))
            } else if let spread = selection as? FragmentSpread {
                let name = spread.name.value
                guard !seen.contains(name), let fragment = fragments[name] else { continue }
                deepest = max(deepest, depth(fragment.selectionSet, fragments, seen.union([name]), &fields, cap: cap))
            }
        }
        return deepest
    }

    /// Whether the operation to run is a mutation (refused over GET).
    static func hasMutation(_ document: Document, operationName: String?) -> Bool {
        for case let operation as OperationDefinition in document.definitions where operationName == nil || operation.name?.value == operationName {
            if operation.operation == .mutation { return true }
        }
        return false
    }

    /// Whether the operation to run is a subscription.
    static func isSubscription(_ document: Document, operationName: String?) -> Bool {
        for case let operation as OperationDefinition in document.definitions where operationName == nil || operation.name?.value == operationName {
            return operation.operation == .subscription
        }
        return false
    }
}
