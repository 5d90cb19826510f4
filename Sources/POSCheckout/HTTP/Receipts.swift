import Foundation
import Hummingbird
import NIOCore
import POSPlatform

/// Receipts of paid baskets: `GET /receipts/{basket}` as a printable HTML page, and
/// `/receipts/{basket}.json`. Signed-in employees only (the bearer token, or `?token=` so that
/// a till can open the page in a print window).
enum Receipts {
    static func response(_ request: Request, _ context: ApiRequestContext, _ services: CheckoutServices) async throws -> Response {
        var id = context.parameters.get("basket") ?? ""
        let wantsJSON = id.hasSuffix(".json")
        if wantsJSON { id.removeLast(5) }
        let token = Tokens.bearer(request.headers[.authorization]) ?? request.uri.queryParameters.get("token")
        let principal: Principal
        do { principal = try await services.signIn.authenticate(token) } catch let error as CheckoutError {
            return ApiServer.json(Array(#"{"error":"\#(error.message)"}"#.utf8), status: .unauthorized)
        }
        let basket: Basket
        do { basket = try await services.baskets.basket(id, for: principal) } catch let error as CheckoutError {
            return ApiServer.json(Array(JSONValue.object(["error": .string(error.message)]).jsonText.utf8), status: error.code == .forbidden ? .forbidden : .notFound)
        }
        let stored = try await services.database.run { db in
            try db.execute("SELECT result FROM api_payments WHERE basket_id = $1 AND status = 'COMPLETED'", [.text(basket.id)]).rows.first?.first ?? nil
        }
        guard let text = stored, let payment = PaymentResult(json: text) else {
            return ApiServer.json(Array(#"{"error":"this basket is not paid"}"#.utf8), status: .notFound)
        }
        let receipt = json(basket, payment)
        if wantsJSON { return ApiServer.json(Array(receipt.jsonText.utf8)) }
        return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html(basket, payment))))
    }

    static func json(_ basket: Basket, _ payment: PaymentResult) -> JSONValue {
        .object([
            "basket_id": .string(basket.id), "terminal_id": .string(basket.terminalId), "employee_id": .number(Double(basket.employeeId)),
            "lines": .array(basket.liveLines.map {
                .object([
                    "product_id": .string($0.productId), "name": .string($0.productName), "quantity": .number(Double($0.quantity)),
                    "unit_price_cents": .number(Double($0.unitPriceCents)), "total_cents": .number(Double($0.lineTotalCents)),
                ])
            }),
            "subtotal_cents": .number(Double(payment.subtotalCents)), "tax_cents": .number(Double(payment.taxCents)),
            "total_cents": .number(Double(payment.totalCents)), "change_cents": .number(Double(payment.changeCents)),
            "tenders": .array(payment.tenders.map(\.json)), "paid_at": .string(UTCTime.iso8601(milliseconds: payment.paidAtMilliseconds)),
        ])
    }

    static func escape(_ text: String) -> String {
        text.replacingAll("&", with: "&amp;").replacingAll("<", with: "&lt;").replacingAll(">", with: "&gt;").replacingAll("\"", with: "&quot;")
    }

    static func html(_ basket: Basket, _ payment: PaymentResult) -> String {
        let lines = basket.liveLines.map {
            "<tr><td>\(escape($0.productName))</td><td class=n>\($0.quantity)</td><td class=n>\(Money.text($0.unitPriceCents))</td><td class=n>\(Money.text($0.lineTotalCents))</td></tr>"
        }.joined()
        let tenders = payment.tenders.map {
            "<tr><td colspan=3>\($0.method.rawValue)\($0.reference.map { " " + escape($0) } ?? "")</td><td class=n>\(Money.text($0.tenderedCents))</td></tr>"
        }.joined()
        return """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>Receipt \(escape(basket.id))</title>
            <style>body{font:13px ui-monospace,monospace;max-width:24rem;margin:1rem auto}table{width:100%;border-collapse:collapse}
            .n{text-align:right}tfoot td{border-top:1px solid #000;font-weight:bold}@media print{button{display:none}}</style></head><body>
            <h1>Receipt</h1><p>Basket \(escape(basket.id)) · terminal \(escape(basket.terminalId)) · \(UTCTime.iso8601(milliseconds: payment.paidAtMilliseconds))</p>
            <table><thead><tr><th>Item</th><th class=n>Qty</th><th class=n>Price</th><th class=n>Total</th></tr></thead><tbody>\(lines)</tbody>
            <tfoot><tr><td colspan=3>Subtotal</td><td class=n>\(Money.text(payment.subtotalCents))</td></tr>
            <tr><td colspan=3>Tax</td><td class=n>\(Money.text(payment.taxCents))</td></tr>
            <tr><td colspan=3>Total</td><td class=n>\(Money.text(payment.totalCents))</td></tr>\(tenders)
            <tr><td colspan=3>Change</td><td class=n>\(Money.text(payment.changeCents))</td></tr></tfoot></table>
            <p>Thank you for shopping with us.</p><button onclick="print()">Print</button></body></html>
            """
    }
}
