import Foundation
import Logging

@testable import PluginHost

/// A private PostgreSQL for the test run: `$POS_TEST_DATABASE_URL` when scripts/test started
/// one, else one started here with scripts/private-postgres (and stopped when the run exits).
/// Each test gets a database of its own.
enum TestDatabase {
    static let server: String = {
        if let url = ProcessInfo.processInfo.environment["POS_TEST_DATABASE_URL"], !url.isEmpty { return url }
        let directory = TestSupport.temporaryDirectory("pg")
        let started = try! TestSupport.run(TestSupport.packageRoot + "/scripts/private-postgres", ["start", directory + "/cluster"])
        ownedCluster = directory + "/cluster"
        atexit {
            if let cluster = TestDatabase.ownedCluster {
                _ = try? TestSupport.capture(TestSupport.packageRoot + "/scripts/private-postgres", ["stop", cluster])
            }
        }
        return started.output.split(separator: "\n").last.map(String.init) ?? ""
    }()

    nonisolated(unsafe) static var ownedCluster: String?

    /// A fresh, empty database; returns its connection string.
    static func fresh(_ label: String = "t") throws -> String {
        let name = "\(label)_\(UInt32.random(in: 0...UInt32.max))"
        let admin = try PostgresConnection(conninfo: server, logger: TestSupport.quietLogger)
        try admin.execute("CREATE DATABASE \(name)")
        return server.replacingOccurrences(of: "dbname=postgres", with: "dbname=\(name)")
    }

    static func pool(_ url: String) throws -> PostgresPool {
        try PostgresPool(conninfo: url, size: 4, logger: TestSupport.quietLogger)
    }
}
