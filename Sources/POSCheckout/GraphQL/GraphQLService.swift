import Foundation
import Graphiti
import GraphQL
import Logging
import POSPlatform

/// Runs GraphQL requests: limits on depth and size checked before anything runs, errors
/// given a code in `extensions.code` (CheckoutError's, or GRAPHQL_PARSE_FAILED,
/// GRAPHQL_VALIDATION_FAILED, BAD_USER_INPUT for arguments that do not decode), and internal
/// errors logged in full but answered with a sentence that gives nothing away.
public struct GraphQLService: Sendable {
    let schema: Schema<Resolver, ApiContext>
    let services: CheckoutServices
    let logger: Logger

    public init(services: CheckoutServices, logger: Logger) throws {
        schema = try CheckoutGraphQLSchema.make()
        self.services = services
        self.logger = logger
    }

    /// The schema in SDL, as served at /graphql/schema.graphql.
    public var sdl: String { printSchema(schema: schema.schema) }

    /// One request: the GraphQL result as JSON bytes.
    public func execute(query: String, variables: [String: Map], operationName: String?, token: String?, address: String, allowMutations: Bool = true) async -> [UInt8] {
        let context = ApiContext(services: services, token: token, address: address)
        var result: GraphQLResult
        let limits = QueryLimits(maxDepth: services.config.maxQueryDepth, maxFields: services.config.maxQueryFields)
        do {
            if let problem = limits.textProblem(query) {
                return encoded(GraphQLResult(errors: [GraphQLError(message: problem, extensions: ["code": "QUERY_TOO_COMPLEX"])]))
            }
            let document = try GraphQL.parse(source: Source(body: query, name: "request"))
            if let problem = limits.problem(in: document) {
                result = GraphQLResult(errors: [GraphQLError(message: problem, extensions: ["code": "QUERY_TOO_COMPLEX"])])
            } else if !allowMutations, QueryLimits.hasMutation(document, operationName: operationName) {
                result = GraphQLResult(errors: [GraphQLError(message: "mutations are sent with POST", extensions: ["code": "BAD_REQUEST"])])
            } else {
                result = try await schema.execute(
                    request: query, resolver: Resolver(), context: context, variables: variables, operationName: operationName)
            }
        } catch let error as GraphQLError {
            result = GraphQLResult(errors: [GraphQLError(message: error.message, locations: error.locations, path: error.path, extensions: ["code": "GRAPHQL_PARSE_FAILED"])])
        } catch {
            result = GraphQLResult(errors: [GraphQLError(message: "the request could not be read", extensions: ["code": "BAD_REQUEST"])])
        }
        return encoded(result)
    }

    /// A result as JSON bytes, its errors given their codes.
    func encoded(_ result: GraphQLResult) -> [UInt8] {
        var result = result
        result.errors = result.errors.map(coded)
        do {
            let bytes = Array(try GraphQLJSONEncoder().encode(result))
            // A field error that nulled a non-null root leaves no data, and the encoder then
            // leaves `data` out; but execution ran, so the answer says `"data": null` (GraphQL
            // over HTTP: a 200, not the 400 of a request that could not run).
            if result.data == nil, result.errors.contains(where: { !$0.path.elements.isEmpty }), bytes.first == UInt8(ascii: "{") {
                return Array(#"{"data":null,"#.utf8) + bytes.dropFirst()
            }
            return bytes
        } catch {
            logger.error("graphql: cannot encode a result: \(error)")
            return Array(#"{"errors":[{"message":"the answer could not be encoded","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#.utf8)
        }
    }

    /// What an operation sent over a WebSocket becomes.
    public enum LiveOperation: Sendable {
        /// A subscription: its results as they come, and the hub subscriber feeding it.
        case stream(AsyncThrowingStream<GraphQLResult, any Error>, LiveSubscriber)
        /// A query or mutation: one result (sent as `next`, then `complete`).
        case single([UInt8])
        /// The subscription could not start: its errors (sent as `error`).
        case refused([[UInt8]])
    }

    /// Runs an operation for a connection whose principal is known (graphql-transport-ws).
    public func live(query: String, variables: [String: Map], operationName: String?, principal: Principal, token: String, address: String) async -> LiveOperation {
        let context = ApiContext(services: services, token: token, address: address, principal: principal)
        let document: Document
        do {
            // Too deep to parse safely: `execute` refuses it without parsing.
            if QueryLimits(maxDepth: services.config.maxQueryDepth, maxFields: services.config.maxQueryFields).textProblem(query) != nil {
                return .single(await execute(query: query, variables: variables, operationName: operationName, token: token, address: address))
            }
            document = try GraphQL.parse(source: Source(body: query, name: "subscription"))
        } catch {
            return .single(await execute(query: query, variables: variables, operationName: operationName, token: token, address: address))
        }
        let limits = QueryLimits(maxDepth: services.config.maxQueryDepth, maxFields: services.config.maxQueryFields)
        guard limits.problem(in: document) == nil, QueryLimits.isSubscription(document, operationName: operationName) else {
            return .single(await execute(query: query, variables: variables, operationName: operationName, token: token, address: address))
        }
        do {
            let outcome = try await schema.subscribe(request: query, resolver: Resolver(), context: context, variables: variables, operationName: operationName)
            switch outcome {
            case .success(let stream):
                guard let subscriber = context.openedSubscriber else {
                    return .refused([encodedError("the subscription did not start", code: "INTERNAL_SERVER_ERROR")])
                }
                return .stream(stream, subscriber)
            case .failure(let errors):
                context.openedSubscriber.map(services.live.unsubscribe)
                return .refused(errors.errors.map { Array((try? GraphQLJSONEncoder().encode(coded($0))) ?? Data()) })
            }
        } catch let error as GraphQLError {
            context.openedSubscriber.map(services.live.unsubscribe)
            return .refused([Array((try? GraphQLJSONEncoder().encode(coded(error))) ?? Data())])
        } catch {
            context.openedSubscriber.map(services.live.unsubscribe)
            return .refused([encodedError("the subscription could not start", code: "INTERNAL_SERVER_ERROR")])
        }
    }

    func encodedError(_ message: String, code: String) -> [UInt8] {
        Array(JSONValue.object(["message": .string(message), "extensions": .object(["code": .string(code)])]).jsonText.utf8)
    }

    private func coded(_ error: GraphQLError) -> GraphQLError {
        if error.extensions["code"] != nil { return error }
        let code: String
        var message = error.message
        var extensions: [String: Map] = [:]
        switch error.originalError {
        case let checkout as CheckoutError:
            code = checkout.code.rawValue
            message = checkout.message
            for (key, value) in checkout.details { extensions[key] = .string(value) }
        case is DecodingError:
            code = "BAD_USER_INPUT"
            message = "an argument has the wrong type or is missing"
        case .some(let other):
            code = "INTERNAL_SERVER_ERROR"
            logger.error("graphql: \(error.path) failed: \(other)")
            message = "something went wrong on the server; nothing was changed that you were not told about"
        case .none:
            code = error.path.elements.isEmpty ? "GRAPHQL_VALIDATION_FAILED" : "BAD_USER_INPUT"
        }
        extensions["code"] = .string(code)
        return GraphQLError(message: message, locations: error.locations, path: error.path, extensions: extensions)
    }
}

extension GraphQLService {
    /// The SDL without a running service (for `pos-api schema` and docs/api.md).
    public static func schemaText() throws -> String { printSchema(schema: try CheckoutGraphQLSchema.make().schema) }
}
