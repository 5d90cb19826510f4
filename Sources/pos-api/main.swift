import ArgumentParser
import Foundation
import Logging
import POSCheckout
import POSPlatform

/// pos-api: the checkout's GraphQL API (docs/api.md).
@main
struct PosApi: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pos-api", abstract: "The checkout: GraphQL API for tills, managers and admins.",
        subcommands: [Serve.self, Seed.self, Migrate.self, PrintSchema.self], defaultSubcommand: Serve.self)
}

struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "config.yaml (its api:, database: and kafka: sections).")
    var config: String = "config.yaml"

    func load() throws -> ApiConfig {
        guard FileManager.default.fileExists(atPath: config) else {
            var defaults = ApiConfig()
            defaults.databaseURL = ProcessInfo.processInfo.environment["POS_DATABASE_URL"]
            return defaults
        }
        do { return try ApiConfig.load(path: config) } catch { throw ValidationError("\(error)") }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the API (the default).")
    @OptionGroup var options: ConfigOption
    @Option(name: .long, help: "Listen address host:port (overrides api.listen).")
    var listen: String?

    func run() async throws {
        HostLogHandler.bootstrap()
        var config = try options.load()
        if let listen {
            guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
                throw ValidationError("--listen takes host:port")
            }
            config.host = String(listen[..<colon])
            config.port = port
        }
        let logger = Logger(label: "pos-api")
        do { try await ApiApplication.run(config: config, logger: logger) } catch {
            logger.critical("pos-api stopped: \(error)")
            throw ExitCode(1)
        }
    }
}

struct Seed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Load the seed data (employees, products, customers); safe to run again.")
    @OptionGroup var options: ConfigOption
    @Option(name: .long, help: "Also load this many generated products (for benchmarks).")
    var generatedProducts = 0
    @Option(name: .long, help: "bcrypt cost of the seeded passwords.")
    var bcryptCost: UInt8 = 10
    @Option(name: .long, help: "Also create this many cashiers bench001... (password bench), one per benchmark till.")
    var benchCashiers = 0

    func run() async throws {
        HostLogHandler.bootstrap()
        let logger = Logger(label: "pos-api")
        let database = try await ApiApplication.connect(try options.load(), logger: logger)
        let (cost, extra, cashiers) = (bcryptCost, generatedProducts, benchCashiers)
        let summary = try await database.run { db in try SeedData.load(db, bcryptCost: cost, extraProducts: extra, benchCashiers: cashiers) }
        print("seeded: \(summary)")
        await database.shutdown()
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Bring the database to pos-api's latest schema.")
    @OptionGroup var options: ConfigOption

    func run() async throws {
        HostLogHandler.bootstrap()
        let database = try await ApiApplication.connect(try options.load(), logger: Logger(label: "pos-api"))
        let applied = try await database.run { db in try CheckoutSchema.migrator.migrate(db) }
        print(applied.isEmpty ? "up to date (version \(CheckoutSchema.migrator.latestVersion))" : "applied \(applied.map(String.init).joined(separator: ", "))")
        await database.shutdown()
    }
}

struct PrintSchema: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "schema", abstract: "Print the GraphQL schema (SDL).")

    func run() async throws {
        print(try GraphQLService.schemaText())
    }
}
