import Foundation
import PluginSDK

/// Loss prevention at the till: the original's five rules, four more, a risk score with a
/// decision per basket at payment, de-duplicated and acknowledgeable alerts. Every time window
/// is measured in event time, so a replay gives the same alerts. Docs: docs/plugins/fraud_detection.md.
final class FraudDetectionPlugin: POSPlugin {
    static let descriptor = PluginDescriptor(
        name: "fraud_detection",
        version: "1.0.0",
        description: "Fraud and loss-prevention rules, risk score and decision per basket",
        subscriptions: [
            "EMPLOYEE_LOGIN", "EMPLOYEE_LOGOUT", "SESSION_TERMINATED", "BASKET_STARTED", "CUSTOMER_IDENTIFIED", "CUSTOMER_DATA_FETCHED",
            "ITEM_ADDED", "ITEM_REMOVED", "PAYMENT_INITIATED", "PAYMENT_PROCESSED", "BASKET_CLOSED", "FRAUD_ALERT_ACKNOWLEDGED",
        ], emits: ["FRAUD_ASSESSED", "FRAUD_ALERT"],
        settingsSchema: FraudSettings.schema,
        defaultSettings: FraudSettings.defaults)

    private var settings: FraudSettings

    init(settings: PluginSettings, host: PluginHost) throws {
        self.settings = try FraudSettings(settings)
    }

    func reconfigure(settings: PluginSettings, host: PluginHost) throws {
        self.settings = try FraudSettings(settings)
    }

    func handle(_ event: PluginEvent, host: PluginHost) throws {
        var engine = FraudEngine(settings: settings, state: host.state, host: host, now: event.timeMilliseconds, causeKey: event.key)
        switch event.type {
        case "EMPLOYEE_LOGIN": try engine.login(try event.decode(Session.self))
        case "EMPLOYEE_LOGOUT", "SESSION_TERMINATED": try engine.logout(try event.decode(Session.self))
        case "BASKET_STARTED": try engine.basketStarted(try event.decode(BasketStarted.self))
        case "CUSTOMER_IDENTIFIED", "CUSTOMER_DATA_FETCHED": try engine.customerIdentified(try event.decode(BasketRef.self))
        case "ITEM_ADDED": try engine.itemAdded(try event.decode(Item.self))
        case "ITEM_REMOVED": try engine.itemRemoved(try event.decode(Item.self))
        case "PAYMENT_INITIATED", "PAYMENT_PROCESSED": try engine.payment(try event.decode(Payment.self), completed: event.isType("PAYMENT_PROCESSED"))
        case "BASKET_CLOSED": try engine.basketClosed(try event.decode(BasketRef.self))
        case "FRAUD_ALERT_ACKNOWLEDGED": try engine.acknowledge(try event.decode(Acknowledgement.self))
        default: return
        }
    }

    /// `assessment {"basket_id"}`: the basket's current score, decision and reasons (what the
    /// payment flow asks before taking the money). `alerts {"basket_id"?, "unacknowledged"?}`.
    func query(_ name: String, request: [UInt8], host: PluginHost) throws -> [UInt8] {
        let engine = FraudEngine(settings: settings, state: host.state, host: host, now: host.nowMilliseconds, causeKey: "")
        switch name {
        case "assessment":
            struct Request: Decodable { var basketId: String }
            let basketId = try PluginJSON.decode(Request.self, from: request).basketId
            return try PluginJSON.encode(try engine.assessment(basketId: basketId))
        case "alerts":
            struct Request: Decodable {
                var basketId: String?
                var unacknowledged: Bool?
            }
            let filter = try PluginJSON.decode(Request.self, from: request.isEmpty ? Array("{}".utf8) : request)
            var alerts = try engine.alerts()
            if let basket = filter.basketId { alerts = alerts.filter { $0.basketId == basket } }
            if filter.unacknowledged == true { alerts = alerts.filter { !$0.acknowledged } }
            return try PluginJSON.encode(alerts.sorted { ($0.raisedAtMs, $0.alertId) < ($1.raisedAtMs, $1.alertId) })
        default:
            throw PluginError.unknownQuery(name)
        }
    }
}

@_cdecl("pos_plugin_entry")
public func posPluginEntry(_ major: UInt16, _ minor: UInt16) -> UnsafeRawPointer? {
    PluginExport.entry(FraudDetectionPlugin.self, hostMajor: major, hostMinor: minor)
}
