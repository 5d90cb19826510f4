import ArgumentParser
import Foundation
import PluginHost

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The checkout under load, over real HTTP against a running pos-api (and pos-host with the five
/// plugins, for payments): addItem and processPayment latency at 50 tills x 1 operation/s, the
/// most addItem/s, product search at 100,000 products, next to a GraphQL no-op round trip in the
/// same run. scripts/bench api starts everything.
struct ApiBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "api", abstract: "pos-api latency and throughput over HTTP.")

    @Option(help: "pos-api's base URL.")
    var url: String

    @Option(help: "Tills (each a bench cashier bench001..., seeded with pos-api seed --bench-cashiers).")
    var tills = 50

    @Option(help: "Seconds of the 1 operation/s per till phase.")
    var seconds = 30

    @Option(help: "Concurrent clients of the maximum-rate phase.")
    var clients = 16

    func run() throws {
        let done = DispatchSemaphore(value: 0)
        let failure = Samples<String>()
        let bench = self
        Task {
            do { try await bench.measure() } catch { failure.append("\(error)") }
            done.signal()
        }
        done.wait()
        if let error = failure.values.first { throw ValidationError(error) }
    }

    func measure() async throws {
        let anonymous = BenchClient(url: url, token: nil)
        // The floor: a GraphQL request that touches nothing, and one that authenticates.
        var noop: [Double] = []
        for _ in 0..<1000 { noop.append(try await anonymous.timed("{ __typename }").0) }
        let till = try await anonymous.signIn("bench001", "bench", terminal: "BENCH-T1")
        var me: [Double] = []
        for _ in 0..<1000 { me.append(try await till.timed("{ me { id } }").0) }

        // Product search over the whole catalogue (scripts/bench seeds 100,000 products), before
        // the load phases: after them pos-host is still working through the backlog of the
        // maximum-rate phase, and the search measured that instead of the index.
        let terms = ["organic", "cheese 12", "Spicy Rice", "coffee", "300000000004", "SKU100077", "juice 9", "beer", "smoked salmon 4", "mini"]
        var searches: [Double] = []
        for round in 0..<1000 {
            searches.append(try await till.timed("query($q: String!) { searchProducts(query: $q, limit: 20) { id } }", ["q": .string(terms[round % terms.count])]).0)
        }

        // 50 tills, each scanning one item a second and paying every ten items.
        let clients = try await withThrowingTaskGroup(of: BenchClient.self) { group in
            for index in 0..<tills {
                let name = "bench" + String(format: "%03d", index + 1)
                group.addTask { try await anonymous.signIn(name, "bench", terminal: "BENCH-\(index + 1)") }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let products = ["BURGER", "FRIES", "COKE", "COFFEE", "DONUT", "MUFFIN", "PIZZA", "SODA", "MOUSE", "PHONE_CASE"]
        let adds = Samples<Double>(), payments = Samples<Double>(), errors = Samples<String>()
        let deadline = Date().addingTimeInterval(TimeInterval(seconds))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, client) in clients.enumerated() {
                group.addTask {
                    // Spread the tills over the second.
                    try await Task.sleep(nanoseconds: UInt64(index) * 1_000_000_000 / UInt64(max(1, clients.count)))
                    var tick = Date()
                    while Date() < deadline {
                        let basket = try await client.startBasket()
                        for item in 0..<10 where Date() < deadline {
                            let (elapsed, answer) = try await client.timed(
                                "mutation($b: String!, $p: String!) { addItem(basketId: $b, productId: $p, quantity: 1) { success } }",
                                ["b": .string(basket), "p": .string(products[(index + item) % products.count])])
                            if answer["errors"] != nil { errors.append(answer.jsonText) } else { adds.append(elapsed) }
                            tick = tick.addingTimeInterval(1)
                            let pause = tick.timeIntervalSinceNow
                            if pause > 0 { try await Task.sleep(nanoseconds: UInt64(pause * 1e9)) }
                        }
                        let (elapsed, answer) = try await client.timed(
                            "mutation($b: String!, $k: String!) { processPayment(basketId: $b, paymentMethod: \"CASH\", idempotencyKey: $k) { success } }",
                            ["b": .string(basket), "k": .string(UUID().uuidString)])
                        if answer["errors"] != nil { errors.append(answer.jsonText) } else { payments.append(elapsed) }
                    }
                }
            }
            try await group.waitForAll()
        }

        // The most addItem/s: clients scanning as fast as answers come, 200 items per basket.
        let counted = Samples<Int>()
        let rateSeconds = 10.0
        let started = Date()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<self.clients {
                let client = clients[index % clients.count]
                group.addTask {
                    var basket = try await client.startBasket()
                    var inBasket = 0
                    while Date().timeIntervalSince(started) < rateSeconds {
                        if inBasket == 200 {
                            basket = try await client.startBasket()
                            inBasket = 0
                        }
                        let (_, answer) = try await client.timed(
                            "mutation($b: String!) { addItem(basketId: $b, productId: \"COKE\") { success } }", ["b": .string(basket)])
                        if answer["errors"] == nil { counted.append(1) }
                        inBasket += 1
                    }
                }
            }
            try await group.waitForAll()
        }
        let rate = Double(counted.values.count) / Date().timeIntervalSince(started)

        func row(_ name: String, _ values: [Double], target: String) -> [String] {
            let sorted = values.sorted()
            func at(_ q: Double) -> String { sorted.isEmpty ? "-" : String(format: "%.1f", sorted[min(sorted.count - 1, Int(q * Double(sorted.count)))]) }
            return [name, "\(values.count)", at(0.5), at(0.99), sorted.last.map { String(format: "%.1f", $0) } ?? "-", target]
        }
        print("pos-api over HTTP (one client process on the same 2 cores as pos-api, pos-host and PostgreSQL)")
        printTable(["request", "n", "p50 ms", "p99 ms", "max ms", "target"], [
            row("GraphQL no-op { __typename } (reference)", noop, target: "-"),
            row("authenticated { me { id } } (reference)", me, target: "-"),
            row("addItem, \(tills) tills x 1/s", adds.values, target: "p99 <= 20"),
            row("processPayment with age + fraud decisions", payments.values, target: "p99 <= 50"),
            row("searchProducts at 100,000 products", searches, target: "p99 <= 10"),
        ])
        print(String(format: "addItem at most: %.0f/s with %d clients (target >= 2,000/s)", rate, self.clients))
        let failed = errors.values
        print("errors: \(failed.count)\(failed.first.map { " (first: \($0.prefix(300)))" } ?? "")")
        print(String(format: "api addItem: %.0f per second", rate))
    }
}

/// Values gathered by concurrent tasks.
final class Samples<Value: Sendable>: @unchecked Sendable {
    // @unchecked: `list` is only touched under `lock`.
    private let lock = NSLock()
    private var list: [Value] = []
    func append(_ value: Value) { lock.withLock { list.append(value) } }
    var values: [Value] { lock.withLock { list } }
}

/// A GraphQL client for the benchmark (URLSession; one session shared by all tills).
struct BenchClient: Sendable {
    let url: String
    let token: String?
    static let session: URLSession = {
        let configuration = URLSessionConfiguration.default
        configuration.httpMaximumConnectionsPerHost = 64
        return URLSession(configuration: configuration)
    }()

    /// Milliseconds the request took, and the decoded answer.
    func timed(_ query: String, _ variables: [String: JSONValue] = [:]) async throws -> (Double, JSONValue) {
        var request = URLRequest(url: URL(string: url + "/graphql")!)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        request.httpBody = Data(JSONValue.object(["query": .string(query), "variables": .object(variables)]).jsonText.utf8)
        let start = DispatchTime.now().uptimeNanoseconds
        let (data, _) = try await Self.session.data(for: request)
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        return (elapsed, (try? JSONValue.parse(Array(data))) ?? .null)
    }

    func signIn(_ username: String, _ password: String, terminal: String) async throws -> BenchClient {
        let (_, answer) = try await timed(
            "mutation($u: String!, $p: String!, $t: String) { login(username: $u, password: $p, terminalId: $t) { token } }",
            ["u": .string(username), "p": .string(password), "t": .string(terminal)])
        guard let token = answer["data"]?["login"]?["token"]?.stringValue else { throw ValidationError("sign-in of \(username) failed: \(answer.jsonText)") }
        return BenchClient(url: url, token: token)
    }

    func startBasket() async throws -> String {
        let (_, answer) = try await timed("mutation { startBasket { basketId } }")
        guard let id = answer["data"]?["startBasket"]?["basketId"]?.stringValue else { throw ValidationError("startBasket failed: \(answer.jsonText)") }
        return id
    }
}
