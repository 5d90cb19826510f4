import Foundation
import Testing

@testable import PluginHost

@Suite struct EventCatalogTests {
    @Test func everyTypeAndAliasIsDocumented() throws {
        let doc = try String(contentsOfFile: TestSupport.packageRoot + "/docs/events.md", encoding: .utf8)
        for spec in EventCatalog.standard.specs {
            #expect(doc.contains("| `\(spec.type)` |"), "docs/events.md lacks \(spec.type)")
            for alias in spec.aliases { #expect(doc.contains("`\(alias)`"), "docs/events.md lacks alias \(alias)") }
        }
    }

    @Test func namesAreUniqueAndCanonicalNamesFollowTheConvention() {
        var seen: Set<String> = []
        for spec in EventCatalog.standard.specs {
            #expect(spec.type.range(of: "^[A-Z][A-Z_]+$", options: .regularExpression) != nil)
            for name in [spec.type] + spec.aliases { #expect(seen.insert(name).inserted, "\(name) defined twice") }
        }
    }

    @Test func everyNameTheOriginalPublishedIsAccepted() {
        // From the reference description of the original system.
        let original = [
            "EMPLOYEE_LOGIN", "EMPLOYEE_LOGOUT", "SESSION_TERMINATED", "BASKET_STARTED", "item.added", "item.removed", "ITEM_QUANTITY_UPDATED",
            "CUSTOMER_IDENTIFIED", "age.verified", "age.verification.cancelled", "age.verification.required", "age.verification.completed",
            "age.verification.failed", "verified.item.added", "payment.initiated", "payment.completed", "fraud.alert", "RECOMMENDATION_SUGGESTED",
            "CUSTOMER_DATA_FETCHED", "subtotal.finalized", "AGE_VERIFIED", "FRAUD_ASSESSED", "PAYMENT_PROCESSED", "BASKET_CLOSED", "ITEM_ADDED",
            "PAYMENT_COMPLETED", "basket.started",
        ]
        for name in original { #expect(EventCatalog.standard.spec(for: name) != nil, "\(name) is not accepted") }
    }
}
