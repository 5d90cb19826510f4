import Foundation
import GraphQL
import Hummingbird
import Logging
import NIOCore
import OrderedCollections
import POSPlatform

/// pos-api's HTTP surface: GraphQL over HTTP at `/graphql` (POST and GET), the SDL and a
/// playground, the customer directory customer_lookup calls, receipts, and health.
public enum ApiServer {
    public static func router(graphQL: GraphQLService, services: CheckoutServices) -> Router<ApiRequestContext> {
        let router = Router(context: ApiRequestContext.self)
        let limit = services.config.maxBodyBytes
        // The browser's files (ES modules, no build step) under /ui/, from `api.static_dir`.
        if let directory = services.config.staticDirectory {
            router.add(middleware: FileMiddleware(directory, urlBasePath: "/ui", searchForIndexHtml: true))
            // A person typing the server's address lands on the till.
            router.get("/") { _, _ in Response(status: .seeOther, headers: [.location: "/ui/"]) }
        }

        // `/graphql/` (the original's path) matches too.
        router.post("/graphql") { request, context in
            try await post(request, context, graphQL, limit: limit)
        }
        router.get("/graphql") { request, context in
            try await get(request, context, graphQL)
        }
        let sdl = graphQL.sdl
        router.get("/graphql/schema.graphql") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: sdl + "\n")))
        }
        router.get("/graphql/playground") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: Playground.html)))
        }
        router.get("/health") { _, _ in
            let healthy = (try? await services.database.run { db in try db.execute("SELECT 1").rows.count }) == 1
            let body = JSONValue.object(["status": .string(healthy ? "ok" : "database unavailable"), "live": services.live.statistics]).jsonText
            return Response(
                status: healthy ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        // The customer directory, in the contract customer_lookup's client speaks (Hummingbird
        // matches `/customers/x/` here too: a trailing slash is not a path segment).
        router.get("/customers/:identifier") { _, context in
            try await directory(context, services)
        }
        router.get("/receipts/:basket") { request, context in
            try await Receipts.response(request, context, services)
        }
        return router
    }

    static func json(_ bytes: [UInt8], status: HTTPResponse.Status = .ok, type: String = "application/json; charset=utf-8") -> Response {
        Response(status: status, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func graphQLError(_ message: String, code: String, status: HTTPResponse.Status) -> Response {
        let body = JSONValue.object(["errors": .array([.object(["message": .string(message), "extensions": .object(["code": .string(code)])])])]).jsonText
        return json(Array(body.utf8), status: status)
    }

    /// GraphQL over HTTP: `application/json` answers 200 whatever happened; clients that accept
    /// `application/graphql-response+json` get 400 when the request could not run at all.
    static func answer(_ bytes: [UInt8], _ request: Request) -> Response {
        let accept = request.headers[.accept] ?? ""
        guard accept.contains("application/graphql-response+json") else { return json(bytes) }
        let requestError = !bytes.starts(with: Array(#"{"data""#.utf8)) && !(String(decoding: bytes.prefix(64), as: UTF8.self).contains(#""data""#))
        return json(bytes, status: requestError ? .badRequest : .ok, type: "application/graphql-response+json; charset=utf-8")
    }

    static func post(_ request: Request, _ context: ApiRequestContext, _ graphQL: GraphQLService, limit: Int) async throws -> Response {
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: limit) } catch {
            return graphQLError("the request body is larger than \(limit) bytes", code: "PAYLOAD_TOO_LARGE", status: .contentTooLarge)
        }
        let bytes = Array(buffer.readableBytesView)
        let contentType = request.headers[.contentType]?.lowercased() ?? "application/json"
        let query: String, variables: [String: Map], operation: String?
        if contentType.hasPrefix("application/graphql") && !contentType.hasPrefix("application/graphql-response") {
            query = String(decoding: bytes, as: UTF8.self)
            variables = [:]
            operation = nil
        } else {
            guard let body = try? JSONValue.parse(bytes), case .object = body else {
                return graphQLError("the body is not a JSON object {\"query\": ...}", code: "BAD_REQUEST", status: .badRequest)
            }
            guard let text = body["query"]?.stringValue else { return graphQLError("the body has no \"query\" text", code: "BAD_REQUEST", status: .badRequest) }
            query = text
            switch body["variables"] {
            case .none, .null?: variables = [:]
            case .object(let members)?: variables = members.mapValues(GraphQLMap.map)
            default: return graphQLError("\"variables\" must be an object", code: "BAD_REQUEST", status: .badRequest)
            }
            operation = body["operationName"]?.stringValue
        }
        let result = await graphQL.execute(
            query: query, variables: variables, operationName: operation, token: Tokens.bearer(request.headers[.authorization]), address: context.address)
        return answer(result, request)
    }

    static func get(_ request: Request, _ context: ApiRequestContext, _ graphQL: GraphQLService) async throws -> Response {
        let parameters = request.uri.queryParameters
        guard let query = parameters.get("query") else { return graphQLError("give ?query=", code: "BAD_REQUEST", status: .badRequest) }
        var variables: [String: Map] = [:]
        if let text = parameters.get("variables") {
            guard case .object(let members)? = try? JSONValue.parse(Array(text.utf8)) else {
                return graphQLError("?variables= must be a JSON object", code: "BAD_REQUEST", status: .badRequest)
            }
            variables = members.mapValues(GraphQLMap.map)
        }
        let result = await graphQL.execute(
            query: query, variables: variables, operationName: parameters.get("operationName"), token: Tokens.bearer(request.headers[.authorization]),
            address: context.address, allowMutations: false)
        return answer(result, request)
    }

    static func directory(_ context: ApiRequestContext, _ services: CheckoutServices) async throws -> Response {
        // Customers' contact details: only for the hosts that run customer_lookup.
        guard services.config.directoryClients.contains(context.address) else {
            return json(Array(#"{"error":"the customer directory answers only api.directory_clients"}"#.utf8), status: .forbidden)
        }
        let raw = context.parameters.get("identifier") ?? ""
        let identifier = raw.removingPercentEncoding ?? raw
        guard let customer = try await services.catalogue.customer(identifier: identifier) else {
            return json(Array(#"{"error":"customer not found"}"#.utf8), status: .notFound)
        }
        return json(Array(Catalogue.directoryProfile(customer).jsonText.utf8))
    }
}

/// JSON values as GraphQL's Map (variables).
enum GraphQLMap {
    static func map(_ value: JSONValue) -> Map {
        switch value {
        case .null: return .null
        case .bool(let flag): return .bool(flag)
        case .number(let number): return .number(Number(number))
        case .string(let text): return .string(text)
        case .array(let items): return .array(items.map(map))
        case .object(let members): return .dictionary(OrderedDictionary(uniqueKeysWithValues: members.sorted { $0.key < $1.key }.map { ($0.key, map($0.value)) }))
        }
    }
}
