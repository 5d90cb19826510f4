import GraphQL

/// Depth and size limits for GraphQL documents, checked before execution: a deep or wide
/// query is refused whole, so it costs nothing (GraphQL has no such rule of its own).
struct QueryLimits {
    let maxDepth: Int
    let maxFields: Int

    /// How deep brackets (`{`, `(`, `[`) nest in a query's text, outside strings and comments,
    /// stopping once past `limit`. GraphQL's parser is recursive: a 64 KiB body of `{ a {`
    /// nested 10,000 deep overflowed pos-api's stack (found by attacking it), so the text is
    /// measured before anything parses it.
    static func nesting(of text: String, limit: Int) -> Int {
        let bytes = Array(text.utf8)
        var depth = 0, deepest = 0, index = 0
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "#"):
                while index < bytes.count, bytes[index] != 0x0A, bytes[index] != 0x0D { index += 1 }
            case quote where index + 2 < bytes.count && bytes[index + 1] == quote && bytes[index + 2] == quote:
                index += 3
                while index < bytes.count {
                    if bytes[index] == backslash, index + 3 < bytes.count, bytes[index + 1] == quote, bytes[index + 2] == quote, bytes[index + 3] == quote {
                        index += 4
                        continue
                    }
                    if bytes[index] == quote, index + 2 < bytes.count, bytes[index + 1] == quote, bytes[index + 2] == quote {
                        index += 2
                        break
                    }
                    index += 1
                }
            case quote:
                index += 1
                while index < bytes.count, bytes[index] != quote, bytes[index] != 0x0A {
                    index += bytes[index] == backslash ? 2 : 1
                }
            case UInt8(ascii: "{"), UInt8(ascii: "("), UInt8(ascii: "["):
                depth += 1
                deepest = max(deepest, depth)
                if deepest > limit { return deepest }
            case UInt8(ascii: "}"), UInt8(ascii: ")"), UInt8(ascii: "]"):
                depth = max(0, depth - 1)
            default:
                break
            }
            index += 1
        }
        return deepest
    }

    /// The bracket nesting allowed in a query's text: room for selections up to `maxDepth`,
    /// inline fragments (which do not count as depth), arguments, lists and input objects, and
    /// far below what the parser survives (1,000 parsed in tests; 10,000 did not).
    var maxNesting: Int { max(128, maxDepth * 8) }

    /// Why the document's text nests too deep to be parsed, or nil.
    func textProblem(_ text: String) -> String? {
        let nesting = Self.nesting(of: text, limit: maxNesting)
        return nesting > maxNesting ? "the query nests brackets more than \(maxNesting) deep" : nil
    }

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
