import Foundation
import Testing

@testable import POSCheckout
@testable import PluginHost

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A real `pos-api` child process on an ephemeral port.
final class ApiProcess: @unchecked Sendable {
    let directory: String
    let process = Process()
    let logPath: String
    private(set) var port = 0

    init(label: String, database: String, bootstrap: String, hostSockets: [String], extraApi: String = "") throws {
        directory = TestSupport.temporaryDirectory(label)
        logPath = directory + "/api.log"
        let sockets = hostSockets.map { "\"\($0)\"" }.joined(separator: ", ")
        TestSupport.write(
            """
            database:
              url: "\(database)"
            kafka:
              bootstrap_servers: "\(bootstrap)"
              topics: [pos-events]
            api:
              listen: "127.0.0.1:0"
              host_sockets: [\(sockets)]
              decision_wait_ms: 10000
              static_dir: "\(TestSupport.packageRoot)/ui"
            \(extraApi)
            """, to: directory + "/config.yaml")
        process.executableURL = URL(fileURLWithPath: TestSupport.product("pos-api"))
        process.arguments = ["serve", "--config", directory + "/config.yaml"]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        process.environment = environment
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: logPath)!
        process.standardOutput = log
        process.standardError = log
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
    var url: String { "http://127.0.0.1:\(port)" }

    /// Seeds the database (cheap bcrypt for tests) and starts serving; waits for the port.
    func start(seed: Bool = true) throws {
        if seed {
            let seeded = try TestSupport.capture(TestSupport.product("pos-api"), ["seed", "--config", directory + "/config.yaml", "--bcrypt-cost", "4"])
            guard seeded.status == 0 else { throw HostError("pos-api seed failed: \(seeded.output)") }
        }
        try process.run()
        let listening = TestSupport.eventually(within: 30) {
            guard let range = log.range(of: #"listening on http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) else { return false }
            port = Int(log[range].split(separator: ":").last ?? "") ?? 0
            return port > 0
        }
        guard listening else { throw HostError("pos-api did not start: \(log)") }
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date(timeIntervalSinceNow: 10)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    deinit { stop() }
}

/// A GraphQL client over real HTTP (URLSession): each call returns the decoded response.
struct GraphQLClient: Sendable {
    let url: String
    var token: String?

    struct Answer: Sendable {
        let status: Int
        let body: JSONValue
        var data: JSONValue? { body["data"] }
        var errors: [JSONValue] { body["errors"]?.arrayValue ?? [] }
        var code: String? { errors.first?["extensions"]?["code"]?.stringValue }
        var message: String { errors.first?["message"]?.stringValue ?? "" }
        /// `data.<field>`, or a test failure naming the errors.
        func field(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) -> JSONValue {
            guard let value = data?[name], value != .null else {
                Issue.record("no data.\(name): \(body.jsonText)", sourceLocation: sourceLocation)
                return .null
            }
            return value
        }
    }

    func raw(_ body: [UInt8], contentType: String = "application/json", accept: String? = nil, method: String = "POST", path: String = "/graphql") async throws -> (Int, [UInt8]) {
        guard let address = URL(string: url + path) else { throw HostError("not a URL: \(url + path)") }
        var request = URLRequest(url: address)
        request.httpMethod = method
        request.setValue(contentType, forHTTPHeaderField: "Content-Type")
        if let accept { request.setValue(accept, forHTTPHeaderField: "Accept") }
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if method == "POST" { request.httpBody = Data(body) }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, Array(data))
    }

    func send(_ query: String, _ variables: [String: JSONValue] = [:]) async throws -> Answer {
        let body = JSONValue.object(["query": .string(query), "variables": .object(variables)]).jsonText
        let (status, bytes) = try await raw(Array(body.utf8))
        return Answer(status: status, body: (try? JSONValue.parse(bytes)) ?? .string(String(decoding: bytes, as: UTF8.self)))
    }

    /// Signs in and returns a client carrying the token.
    func signedIn(_ username: String, _ password: String, terminal: String) async throws -> GraphQLClient {
        let answer = try await send(
            "mutation($u: String!, $p: String!, $t: String) { login(username: $u, password: $p, terminalId: $t) { token } }",
            ["u": .string(username), "p": .string(password), "t": .string(terminal)])
        guard let token = answer.data?["login"]?["token"]?.stringValue else { throw HostError("login failed: \(answer.body.jsonText)") }
        var client = self
        client.token = token
        return client
    }
}

/// The whole store for the checkout's tests: a Kafka cluster, a database, pos-host with the
/// five POS plugins in workers (customer_lookup asking pos-api's directory), and pos-api.
final class CheckoutStore: @unchecked Sendable {
    let cluster: EmbeddedKafkaCluster
    let database: String
    let host: HostProcess
    let api: ApiProcess

    init(label: String, extraApi: String = "") throws {
        cluster = try EmbeddedKafkaCluster(topics: [("pos-events", 3), ("pos-events.dlq", 1)])
        database = try TestDatabase.fresh(label)
        host = try HostProcess(
            label: "\(label)-host",
            configText: """
                plugins_dir: plugins.d
                control_socket: run/host.sock
                log_level: info
                database:
                  url: "\(database)"
                kafka:
                  bootstrap_servers: "\(cluster.bootstrapServers)"
                  group_prefix: pos

                """)
        host.process.arguments = ["--config", host.configPath]
        api = try ApiProcess(label: "\(label)-api", database: database, bootstrap: cluster.bootstrapServers, hostSockets: [host.directory + "/run/host.sock"], extraApi: extraApi)
        try api.start()
        TestSupport.write("enabled: false\n", to: host.plugins + "/basket_tally.yaml")
        TestSupport.write("enabled: false\n", to: host.plugins + "/event_counter.yaml")
        for name in StoreEndToEndTests.five {
            try FileManager.default.copyItem(atPath: TestSupport.product("lib\(name).so"), toPath: host.plugins + "/\(name).so")
            chmod(host.plugins + "/\(name).so", 0o644)
            TestSupport.write(
                name == "customer_lookup" ? "enabled: true\nsettings:\n  api_endpoint: \"\(api.url)/customers\"\n" : "enabled: true\n",
                to: host.plugins + "/\(name).yaml")
        }
        try host.start()
    }

    var client: GraphQLClient { GraphQLClient(url: api.url) }

    /// Adds employees (password123) for a suite of its own, so that suites running at the same
    /// time never sign each other's sessions out (a login ends the employee's other sessions).
    func addEmployees(_ employees: [(id: Int, username: String, role: String)]) throws {
        let db = try PostgresConnection(conninfo: database, logger: TestSupport.quietLogger)
        for employee in employees {
            try db.execute(
                """
                INSERT INTO api_employees (id, code, username, display_name, role, password_hash)
                SELECT $1::bigint, 'EMP' || $1::text, $2, $2, $3, password_hash FROM api_employees WHERE username = 'john' ON CONFLICT DO NOTHING
                """, [.text(String(employee.id)), .text(employee.username), .text(employee.role)])
        }
    }

    func stop() {
        api.stop()
        _ = host.terminate()
        cluster.close()
    }
}

extension CheckoutStore {
    /// One store for the checkout suites (starting one takes seconds), stopped when the test
    /// process exits.
    static let shared: Result<CheckoutStore, any Error> = {
        let result = Result { try CheckoutStore(label: "checkout") }
        if case .success(let store) = result {
            sharedForExit = store
            atexit { CheckoutStore.sharedForExit?.stop() }
        }
        return result
    }()

    nonisolated(unsafe) static var sharedForExit: CheckoutStore?

    /// Stores stopped when the test process exits (a store left running keeps a host and its
    /// workers polling, and starves the next run's suites).
    nonisolated(unsafe) static var stopAtExit: [CheckoutStore] = []

    static func stoppedAtExit(_ store: CheckoutStore) -> CheckoutStore {
        if stopAtExit.isEmpty { atexit { for store in CheckoutStore.stopAtExit { store.stop() } } }
        stopAtExit.append(store)
        return store
    }
}
