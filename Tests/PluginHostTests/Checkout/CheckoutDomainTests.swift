import Foundation
import GraphQL
import Testing

@testable import POSCheckout
@testable import PluginHost

/// The checkout's rules, without processes: money, totals and tax, tenders, identifiers,
/// query limits, configuration.
@Suite struct CheckoutDomainTests {
    func line(_ id: Int, _ cents: Int, quantity: Int = 1, tax: String = "standard") -> BasketLine {
        BasketLine(lineId: id, productId: "P\(id)", productName: "P\(id)", quantity: quantity, unitPriceCents: cents, taxClass: tax, minimumAge: nil, removed: false)
    }

    @Test func moneyIsWholeCentsAndClientFloatsAreReadExactly() {
        #expect(Money.cents(22.97) == 2297)
        #expect(Money.cents(0.1 + 0.2) == 30)
        #expect(Money.cents(1.005) == nil, "more than two decimals is not an amount")
        #expect(Money.cents(-1) == nil && Money.cents(.nan) == nil && Money.cents(.infinity) == nil)
        #expect(Money.text(5) == "0.05" && Money.text(123_456) == "1234.56" && Money.text(-250) == "-2.50")
    }

    @Test func taxIsPerClassOnTheClassSubtotalRoundedHalfUp() {
        // 100 items of 0.05 at 8.25%: per line 0.4125 cents would round to 0 each; on the sum, 41.
        let cheap = (1...100).map { line($0, 5) }
        let totals = BasketTotals(lines: cheap, taxRates: ["standard": 825])
        #expect(totals.subtotalCents == 500 && totals.taxCents == 41 && totals.totalCents == 541)
        let mixed = BasketTotals(lines: [line(1, 1000, tax: "food"), line(2, 1999, quantity: 2)], taxRates: ["standard": 1000, "food": 0])
        #expect(mixed.subtotalCents == 4998 && mixed.taxByClass == ["standard": 400] && mixed.itemCount == 3)
        #expect(BasketTotals(lines: [line(1, 10)], taxRates: ["standard": 500]).taxCents == 1, "0.5 cents rounds up")
    }

    @Test func tendersPayExactlyTheTotalWithChangeOnlyFromCash() throws {
        let cash = try Tender.plan([TenderRequest(method: .cash, amountCents: nil, tenderedCents: 3000)], total: 2297)
        #expect(cash.map(\.changeCents) == [703] && cash.map(\.amountCents) == [2297])
        let split = try Tender.plan([TenderRequest(method: .cash, amountCents: 1000, tenderedCents: 2000), TenderRequest(method: .card, amountCents: nil, tenderedCents: nil)], total: 2297)
        #expect(split.map(\.amountCents) == [1000, 1297] && split.map(\.changeCents) == [1000, 0])
        #expect(throws: CheckoutError.self) { try Tender.plan([TenderRequest(method: .cash, amountCents: nil, tenderedCents: 2000)], total: 2297) }
        #expect(throws: CheckoutError.self) { try Tender.plan([TenderRequest(method: .card, amountCents: 3000, tenderedCents: nil)], total: 2297) }
        #expect(throws: CheckoutError.self) { try Tender.plan([TenderRequest(method: .card, amountCents: 1000, tenderedCents: nil)], total: 2297) }
        #expect(throws: CheckoutError.self) { try Tender.plan([TenderRequest(method: .card, amountCents: 0, tenderedCents: nil)], total: 2297) }
        #expect(throws: CheckoutError.self) { try Tender.plan([], total: 2297) }
        #expect(throws: CheckoutError.self) {
            try Tender.plan([TenderRequest(method: .card, amountCents: nil, tenderedCents: nil), TenderRequest(method: .cash, amountCents: nil, tenderedCents: nil)], total: 100)
        }
    }

    @Test func identifiersAreNormalisedAsCustomerLookupDoes() {
        #expect(CustomerIdentifier.normalise(" +1 (234) 567-890 ")?.normalised == "+1234567890")
        #expect(CustomerIdentifier.normalise("John@Example.COM")?.normalised == "john@example.com")
        #expect(CustomerIdentifier.normalise("card 123456")?.normalised == "CARD_123456")
        #expect(CustomerIdentifier.normalise("not an identifier!") == nil)
        #expect(CustomerIdentifier.normalise("12") == nil)
        #expect(SeedData.customers[0].identifiers == ["+1234567890", "john@example.com", "CARD_123456"])
    }

    @Test func idScansLeaveOnlyDerivedFacts() {
        let now: Int64 = 1_796_000_000_000  // 2026-11-30
        let adult = Resolver.derivedFacts(CheckoutEndToEndTests.adultLicence, now: now)
        #expect(adult["customer_age"] == .number(36) && adult["id_expired"] == .bool(false) && adult["method"] == .string("ID_SCAN"))
        #expect(Set(adult.keys) == ["customer_age", "id_expired", "method"])
        let expired = Resolver.derivedFacts(AAMVABarcodeTests.card(["DAQX1", "DBB01151990", "DBA01152020"]), now: now)
        #expect(expired["id_expired"] == .bool(true))
        let unreadable = Resolver.derivedFacts("hello", now: now)
        #expect(unreadable["id_problem"] != nil && unreadable["customer_age"] == nil)
        // The day before a 21st birthday anywhere on Earth is not yet 21 (the earliest date rules).
        let birthday = Resolver.derivedFacts(AAMVABarcodeTests.card(["DAQX1", "DBB12012005", "DBA01152035"]), now: 1_796_083_200_000)  // 2026-12-01T00:00Z
        #expect(birthday["customer_age"] == .number(20))
    }

    @Test func queriesOverTheLimitsAreRefusedBeforeTheyRun() throws {
        let limits = QueryLimits(maxDepth: 3, maxFields: 10)
        #expect(limits.problem(in: try GraphQL.parse(source: "{ a { b { c } } }")) == nil)
        #expect(limits.problem(in: try GraphQL.parse(source: "{ a { b { c { d } } } }"))?.contains("4 levels") == true)
        #expect(limits.problem(in: try GraphQL.parse(source: "{ " + (0..<11).map { "f\($0)" }.joined(separator: " ") + " }"))?.contains("more than 10") == true)
        // A fragment that spreads itself cannot loop the check.
        let cyclic = try GraphQL.parse(source: "query { ...A } fragment A on Query { a { ...A } }")
        #expect(limits.problem(in: cyclic) == nil)
        let fanned = try GraphQL.parse(source: "query { ...A ...A } fragment A on Query { a b c d e f }")
        #expect(limits.problem(in: fanned)?.contains("more than 10") == true)
        // The text is measured before it is parsed; brackets in strings, block strings and
        // comments do not count.
        #expect(QueryLimits.nesting(of: "{ a(x: [1, {y: 2}]) { b } }", limit: 100) == 4)
        #expect(QueryLimits.nesting(of: #"{ a(s: "{{{{ \" {{") # {{{{{"# + "\n" + #"b(t: """ {{{ \""" {{ """) }"#, limit: 100) == 2)
        #expect(QueryLimits.nesting(of: String(repeating: "{ a ", count: 100_000), limit: 40) == 41)
        #expect(limits.maxNesting == 128)
        #expect(limits.textProblem(String(repeating: "{ a ", count: 10_000) + String(repeating: "}", count: 10_000))?.contains("nests") == true)
        #expect(limits.textProblem("{ a { b { c } } }") == nil)
    }

    @Test func theApiSectionIsCheckedWithFileLineAndColumn() throws {
        let good = try ApiConfig.parse(
            "database:\n  url: \"dbname=x\"\nkafka:\n  bootstrap_servers: \"h:1\"\n  topics: [events]\napi:\n  listen: \"0.0.0.0:9000\"\n  tax_rates: {standard: 825}\n  fail_open: {fraud_detection: false}\n",
            path: "c.yaml", environment: [:])
        #expect(good.port == 9000 && good.host == "0.0.0.0" && good.topic == "events" && good.taxRates == ["standard": 825] && good.failOpen["fraud_detection"] == false)
        #expect(good.databaseURL == "dbname=x" && good.bootstrapServers == "h:1")
        #expect(throws: ConfigError.self) { try ApiConfig.parse("api:\n  listen: nowhere\n", path: "c.yaml", environment: [:]) }
        do {
            _ = try ApiConfig.parse("api:\n  listn: \"1.2.3.4:5\"\n", path: "c.yaml", environment: [:])
            Issue.record("a typo must be refused")
        } catch {
            #expect("\(error)".contains("c.yaml:2:3") && "\(error)".contains("listn"))
        }
        #expect(throws: ConfigError.self) { try ApiConfig.parse("api:\n  tax_rates: {standard: 8.25}\n", path: "c.yaml", environment: [:]) }
        let live = try ApiConfig.parse("api:\n  live:\n    retention_s: 60\n    subscriber_buffer: 64\n    init_timeout_ms: 500\n", path: "c.yaml", environment: [:]).live
        #expect(live.retentionSeconds == 60 && live.subscriberBuffer == 64 && live.initTimeoutMilliseconds == 500 && live.retainedEvents == 50_000)
        #expect(throws: ConfigError.self) { try ApiConfig.parse("api:\n  live:\n    buffer: 3\n", path: "c.yaml", environment: [:]) }
        #expect(throws: ConfigError.self) { try ApiConfig.parse("api:\n  live:\n    subscriber_buffer: 0\n", path: "c.yaml", environment: [:]) }
        // pos-host accepts the file with pos-api's section in it.
        #expect(try HostConfig.parse("api:\n  listen: \"1.2.3.4:5\"\n", path: "c.yaml").logLevel == "info")
    }

    @Test func docsApiCarriesTheServedSchema() throws {
        let doc = try String(contentsOfFile: TestSupport.packageRoot + "/docs/api.md", encoding: .utf8)
        let block = try #require(doc.components(separatedBy: "```graphql\n").last?.components(separatedBy: "\n```").first)
        #expect(block == (try GraphQLService.schemaText()).trimmingCharacters(in: .whitespacesAndNewlines), "regenerate with: pos-api schema")
    }

    @Test func theSchemaHasTheOriginalsOperations() throws {
        let sdl = try GraphQLService.schemaText()
        for operation in [
            "login(username: String!, password: String!", "logout(", "startBasket(employeeId: Int", "addItem(basketId: String!, productId: String!, productName: String",
            "removeItem(basketId: String!, itemId: String!", "updateQuantity(", "identifyCustomer(", "verifyAge(basketId: String!", "cancelAgeVerification(",
            "addVerifiedItem(", "finalizeBasket(", "processPayment(basketId: String!", "acceptRecommendation(recommendationId: Int!", "rejectRecommendation(",
            "updatePlugin(id: ID!", "employees:", "myTimeEntries(", "products(", "searchProducts(query: String!", "product(", "basket(", "basketDetails(",
            "activeBaskets(", "customer(", "customerByIdentifier(", "allCustomers:", "customerPurchases(", "recommendations(", "pendingRecommendations(", "plugins:",
            "ageVerificationEvents(basketId: String!", "basketEvents(basketId: String!", "recommendations(basketId: String!, after: String): RecommendationPush",
            "terminalEvents(terminalId: String!", "storeFraudAlerts(",
        ] {
            #expect(sdl.contains(operation), "\(operation)")
        }
    }
}
