import Graphiti
import GraphQL

/// The GraphQL schema: the original's operations with its names and arguments (so its client
/// keeps working), and what they lack (integer cents, tenders, idempotency keys, approvals,
/// event positions). docs/api.md has the SDL (also served at /graphql/schema.graphql).
enum CheckoutGraphQLSchema {
    static func make() throws -> Schema<Resolver, ApiContext> {
        try Schema<Resolver, ApiContext> {
            Scalar(GraphQLID.self, as: "ID")
            Type(EmployeeView.self, as: "Employee") {
                Field("id", at: \.id)
                Field("code", at: \.code)
                Field("username", at: \.username)
                Field("name", at: \.name)
                Field("role", at: \.role)
            }
            Type(TerminalView.self, as: "Terminal") {
                Field("terminalId", at: \.terminalId)
                Field("loginTime", at: \.loginTime)
            }
            Type(PositionView.self, as: "EventPosition") {
                Field("topic", at: \.topic)
                Field("partition", at: \.partition)
                Field("offset", at: \.offset)
                Field("eventId", at: \.eventId)
            }
            Type(LoginView.self, as: "LoginPayload") {
                Field("token", at: \.token)
                Field("employee", at: \.employee)
                Field("terminal", at: \.terminal)
                Field("expiresAt", at: \.expiresAt)
                Field("position", at: \.position)
            }
            Type(LogoutView.self, as: "LogoutPayload") {
                Field("success", at: \.success)
                Field("message", at: \.message)
                Field("position", at: \.position)
            }
            Type(ProductView.self, as: "Product") {
                Field("id", at: \.id)
                Field("productId", at: \.productId)
                Field("name", at: \.name)
                Field("barcode", at: \.barcode)
                Field("price", at: \.price)
                Field("priceCents", at: \.priceCents)
                Field("category", at: \.category)
                Field("taxClass", at: \.taxClass)
                Field("ageRestricted", at: \.ageRestricted)
                Field("minimumAge", at: \.minimumAge)
            }
            Type(CustomerView.self, as: "Customer") {
                Field("id", at: \.id)
                Field("customerId", at: \.customerId)
                Field("firstName", at: \.firstName)
                Field("lastName", at: \.lastName)
                Field("name", at: \.name)
                Field("email", at: \.email)
                Field("phone", at: \.phone)
                Field("loyaltyCard", at: \.loyaltyCard)
                Field("tier", at: \.tier)
                Field("loyaltyPoints", at: \.loyaltyPoints)
            }
            Type(BasketItemView.self, as: "BasketItem") {
                Field("id", at: \.id)
                Field("itemId", at: \.itemId)
                Field("productId", at: \.productId)
                Field("productName", at: \.productName)
                Field("quantity", at: \.quantity)
                Field("price", at: \.price)
                Field("unitPriceCents", at: \.unitPriceCents)
                Field("lineTotal", at: \.lineTotal)
                Field("lineTotalCents", at: \.lineTotalCents)
                Field("ageRestricted", at: \.ageRestricted)
                Field("minimumAge", at: \.minimumAge)
            }
            Type(TaxLineView.self, as: "TaxLine") {
                Field("taxClass", at: \.taxClass)
                Field("ratePercent", at: \.ratePercent)
                Field("amountCents", at: \.amountCents)
            }
            Type(BasketView.self, as: "Basket") {
                Field("id", at: \.id)
                Field("basketId", at: \.basketId)
                Field("status", at: \.status)
                Field("terminalId", at: \.terminalId)
                Field("employeeId", at: \.employeeId)
                Field("customerIdentifier", at: \.customerIdentifier)
                Field("customer", at: \.customer)
                Field("items", at: \.items)
                Field("itemCount", at: \.itemCount)
                Field("subtotal", at: \.subtotal)
                Field("subtotalCents", at: \.subtotalCents)
                Field("tax", at: \.tax)
                Field("taxCents", at: \.taxCents)
                Field("taxes", at: \.taxes)
                Field("total", at: \.total)
                Field("totalCents", at: \.totalCents)
                Field("createdAt", at: \.createdAt)
            }
            Type(StartBasketView.self, as: "StartBasketPayload") {
                Field("basketId", at: \.basketId)
                Field("status", at: \.status)
                Field("basket", at: \.basket)
                Field("position", at: \.position)
            }
            Type(BasketChangeView.self, as: "BasketChangePayload") {
                Field("success", at: \.success)
                Field("message", at: \.message)
                Field("basketTotal", at: \.basketTotal)
                Field("basket", at: \.basket)
                Field("item", at: \.item)
                Field("appliedPrice", at: \.appliedPrice)
                Field("appliedPriceCents", at: \.appliedPriceCents)
                Field("clientValuesIgnored", at: \.clientValuesIgnored)
                Field("position", at: \.position)
            }
            Type(AgeCheckView.self, as: "AgeCheckPayload") {
                Field("verified", at: \.verified)
                Field("reason", at: \.reason)
                Field("method", at: \.method)
                Field("basket", at: \.basket)
                Field("position", at: \.position)
            }
            Type(TenderView.self, as: "Tender") {
                Field("method", at: \.method)
                Field("amount", at: \.amount)
                Field("amountCents", at: \.amountCents)
                Field("tendered", at: \.tendered)
                Field("tenderedCents", at: \.tenderedCents)
                Field("change", at: \.change)
                Field("changeCents", at: \.changeCents)
                Field("reference", at: \.reference)
            }
            Type(PaymentView.self, as: "PaymentPayload") {
                Field("success", at: \.success)
                Field("basketId", at: \.basketId)
                Field("status", at: \.status)
                Field("idempotencyKey", at: \.idempotencyKey)
                Field("paymentMethod", at: \.paymentMethod)
                Field("subtotalCents", at: \.subtotalCents)
                Field("taxCents", at: \.taxCents)
                Field("total", at: \.total)
                Field("totalCents", at: \.totalCents)
                Field("change", at: \.change)
                Field("changeCents", at: \.changeCents)
                Field("tenders", at: \.tenders)
                Field("paidAt", at: \.paidAt)
                Field("fraudDecision", at: \.fraudDecision)
                Field("overriddenBy", at: \.overriddenBy)
                Field("receiptUrl", at: \.receiptUrl)
                Field("position", at: \.position)
            }
            Type(RecommendationView.self, as: "Recommendation") {
                Field("id", at: \.id)
                Field("basketId", at: \.basketId)
                Field("productId", at: \.productId)
                Field("productName", at: \.productName)
                Field("price", at: \.price)
                Field("sourceProduct", at: \.sourceProduct)
                Field("reason", at: \.reason)
                Field("score", at: \.score)
                Field("status", at: \.status)
            }
            Type(RecommendationAnswerView.self, as: "RecommendationAnswerPayload") {
                Field("success", at: \.success)
                Field("message", at: \.message)
                Field("basket", at: \.basket)
                Field("position", at: \.position)
            }
            Type(TimeEntryView.self, as: "TimeEntry") {
                Field("employeeId", at: \.employeeId)
                Field("terminalId", at: \.terminalId)
                Field("clockIn", at: \.clockIn)
                Field("clockOut", at: \.clockOut)
                Field("totalHours", at: \.totalHours)
                Field("closedBy", at: \.closedBy)
            }
            Type(HoursView.self, as: "Hours") {
                Field("period", at: \.period)
                Field("hours", at: \.hours)
            }
            Type(TimeSheetView.self, as: "TimeSheet") {
                Field("employeeId", at: \.employeeId)
                Field("entries", at: \.entries)
                Field("hoursPerDay", at: \.hoursPerDay)
                Field("hoursPerWeek", at: \.hoursPerWeek)
            }
            Type(PurchaseView.self, as: "Purchase") {
                Field("basketId", at: \.basketId)
                Field("purchasedAt", at: \.purchasedAt)
                Field("amount", at: \.amount)
                Field("lines", at: \.lines)
            }
            Type(PluginView.self, as: "Plugin") {
                Field("id", at: \.id)
                Field("name", at: \.name)
                Field("enabled", at: \.enabled)
                Field("isolation", at: \.isolation)
                Field("config", at: \.config)
                Field("configVersion", at: \.configVersion)
                Field("updatedBy", at: \.updatedBy)
                Field("state", at: \.state)
                Field("version", at: \.version)
                Field("lastError", at: \.lastError)
                Field("subscriptions", at: \.subscriptions)
                Field("supportedEvents", at: \.supportedEvents)
                Field("handled", at: \.handled)
                Field("failed", at: \.failed)
                Field("deadLettered", at: \.deadLettered)
                Field("queueDepth", at: \.queueDepth)
                Field("lag", at: \.lag)
                Field("settingsSchema", at: \.settingsSchema)
                Field("defaultSettings", at: \.defaultSettings)
                Field("configError", at: \.configError)
            }
            Type(PluginAuditView.self, as: "PluginChange") {
                Field("version", at: \.version)
                Field("changedBy", at: \.changedBy)
                Field("change", at: \.change)
            }
            Type(FraudAlertView.self, as: "FraudAlert") {
                Field("alertId", at: \.alertId)
                Field("ruleId", at: \.ruleId)
                Field("severity", at: \.severity)
                Field("employeeId", at: \.employeeId)
                Field("terminalId", at: \.terminalId)
                Field("basketId", at: \.basketId)
                Field("threshold", at: \.threshold)
                Field("actual", at: \.actual)
                Field("windowSeconds", at: \.windowSeconds)
                Field("raisedAt", at: \.raisedAt)
                Field("acknowledged", at: \.acknowledged)
                Field("acknowledgedBy", at: \.acknowledgedBy)
                Field("acknowledgedAt", at: \.acknowledgedAt)
            }
            Type(AgeViolationView.self, as: "AgeViolation") {
                Field("basketId", at: \.basketId)
                Field("reason", at: \.reason)
                Field("reasons", at: \.reasons)
                Field("at", at: \.at)
                Field("minimumAge", at: \.minimumAge)
                Field("verifier", at: \.verifier)
                Field("method", at: \.method)
            }
            Type(HeldItemView.self, as: "HeldItem") {
                Field("productId", at: \.productId)
                Field("quantity", at: \.quantity)
                Field("minimumAge", at: \.minimumAge)
            }
            Type(AgeGateView.self, as: "AgeGate") {
                Field("basketId", at: \.basketId)
                Field("allowed", at: \.allowed)
                Field("reason", at: \.reason)
                Field("minimumAge", at: \.minimumAge)
                Field("heldItems", at: \.heldItems)
            }
            Input(Resolver.TenderInput.self, as: "TenderInput") {
                InputField("method", at: \.method)
                InputField("amount", at: \.amount)
                InputField("tendered", at: \.tendered)
            }
            Query {
                Field("me", at: Resolver.me)
                Field("employees", at: Resolver.employees)
                Field("products", at: Resolver.products) {
                    Argument("limit", at: \.limit)
                    Argument("offset", at: \.offset)
                }
                Field("searchProducts", at: Resolver.searchProducts) {
                    Argument("query", at: \.query)
                    Argument("limit", at: \.limit)
                }
                Field("product", at: Resolver.product) {
                    Argument("id", at: \.id)
                    Argument("productId", at: \.productId)
                    Argument("barcode", at: \.barcode)
                }
                Field("basket", at: Resolver.basket) {
                    Argument("basketId", at: \.basketId)
                    Argument("id", at: \.id)
                }
                Field("basketDetails", at: Resolver.basket) {
                    Argument("basketId", at: \.basketId)
                    Argument("id", at: \.id)
                }
                Field("activeBaskets", at: Resolver.activeBaskets) {
                    Argument("employeeId", at: \.employeeId)
                }
                Field("customer", at: Resolver.customer) {
                    Argument("id", at: \.id)
                    Argument("customerId", at: \.customerId)
                }
                Field("customerByIdentifier", at: Resolver.customerByIdentifier) {
                    Argument("identifier", at: \.identifier)
                }
                Field("allCustomers", at: Resolver.allCustomers)
                Field("customerPurchases", at: Resolver.customerPurchases) {
                    Argument("customerId", at: \.customerId)
                }
                Field("recommendations", at: Resolver.recommendations) {
                    Argument("basketId", at: \.basketId)
                }
                Field("pendingRecommendations", at: Resolver.pendingRecommendations) {
                    Argument("basketId", at: \.basketId)
                }
                Field("myTimeEntries", at: Resolver.myTimeEntries) {
                    Argument("employeeId", at: \.employeeId)
                    Argument("from", at: \.from)
                    Argument("to", at: \.to)
                }
                Field("plugins", at: Resolver.plugins)
                Field("fraudAlerts", at: Resolver.fraudAlerts) {
                    Argument("unacknowledged", at: \.unacknowledged)
                    Argument("basketId", at: \.basketId)
                }
                Field("ageViolations", at: Resolver.ageViolations) {
                    Argument("basketId", at: \.basketId)
                }
                Field("ageGate", at: Resolver.ageGate) {
                    Argument("basketId", at: \.basketId)
                }
                Field("pluginAudit", at: Resolver.pluginAudit) {
                    Argument("id", at: \.id)
                }
            }
            Mutation {
                Field("login", at: Resolver.login) {
                    Argument("username", at: \.username)
                    Argument("password", at: \.password)
                    Argument("terminalId", at: \.terminalId)
                }
                Field("logout", at: Resolver.logout) {
                    Argument("terminalId", at: \.terminalId)
                }
                Field("startBasket", at: Resolver.startBasket) {
                    Argument("employeeId", at: \.employeeId)
                    Argument("terminalId", at: \.terminalId)
                    Argument("customerIdentifier", at: \.customerIdentifier)
                }
                Field("addItem", at: Resolver.addItem) {
                    Argument("basketId", at: \.basketId)
                    Argument("productId", at: \.productId)
                    Argument("productName", at: \.productName)
                    Argument("quantity", at: \.quantity)
                    Argument("price", at: \.price)
                    Argument("terminalId", at: \.terminalId)
                }
                Field("addVerifiedItem", at: Resolver.addItem) {
                    Argument("basketId", at: \.basketId)
                    Argument("productId", at: \.productId)
                    Argument("productName", at: \.productName)
                    Argument("quantity", at: \.quantity)
                    Argument("price", at: \.price)
                    Argument("terminalId", at: \.terminalId)
                }
                Field("removeItem", at: Resolver.removeItem) {
                    Argument("basketId", at: \.basketId)
                    Argument("itemId", at: \.itemId)
                    Argument("approverUsername", at: \.approverUsername)
                    Argument("approverPassword", at: \.approverPassword)
                }
                Field("updateQuantity", at: Resolver.updateQuantity) {
                    Argument("basketId", at: \.basketId)
                    Argument("itemId", at: \.itemId)
                    Argument("quantity", at: \.quantity)
                }
                Field("identifyCustomer", at: Resolver.identifyCustomer) {
                    Argument("basketId", at: \.basketId)
                    Argument("customerIdentifier", at: \.customerIdentifier)
                }
                Field("finalizeBasket", at: Resolver.finalizeBasket) {
                    Argument("basketId", at: \.basketId)
                }
                Field("verifyAge", at: Resolver.verifyAge) {
                    Argument("basketId", at: \.basketId)
                    Argument("verifierEmployeeId", at: \.verifierEmployeeId)
                    Argument("customerAge", at: \.customerAge)
                    Argument("dateOfBirth", at: \.dateOfBirth)
                    Argument("idScan", at: \.idScan)
                    Argument("terminalId", at: \.terminalId)
                    Argument("verificationMethod", at: \.verificationMethod)
                }
                Field("cancelAgeVerification", at: Resolver.cancelAgeVerification) {
                    Argument("basketId", at: \.basketId)
                    Argument("employeeId", at: \.employeeId)
                }
                Field("processPayment", at: Resolver.processPayment) {
                    Argument("basketId", at: \.basketId)
                    Argument("terminalId", at: \.terminalId)
                    Argument("employeeId", at: \.employeeId)
                    Argument("totalAmount", at: \.totalAmount)
                    Argument("paymentMethod", at: \.paymentMethod)
                    Argument("tenders", at: \.tenders)
                    Argument("idempotencyKey", at: \.idempotencyKey)
                    Argument("overrideUsername", at: \.overrideUsername)
                    Argument("overridePassword", at: \.overridePassword)
                }
                Field("acceptRecommendation", at: Resolver.acceptRecommendation) {
                    Argument("recommendationId", at: \.recommendationId)
                    Argument("basketId", at: \.basketId)
                }
                Field("rejectRecommendation", at: Resolver.rejectRecommendation) {
                    Argument("recommendationId", at: \.recommendationId)
                    Argument("basketId", at: \.basketId)
                }
                Field("acknowledgeFraudAlert", at: Resolver.acknowledgeFraudAlert) {
                    Argument("alertId", at: \.alertId)
                    Argument("note", at: \.note)
                }
                Field("updatePlugin", at: Resolver.updatePlugin) {
                    Argument("id", at: \.id)
                    Argument("enabled", at: \.enabled)
                    Argument("config", at: \.config)
                    Argument("supportedEvents", at: \.supportedEvents)
                }
            }
            // Live pushes (docs/live.md): select `cursor` to be able to resume with `after`.
            Type(LiveEvent.self, as: "LiveEvent") {
                Field("id", at: \.id)
                Field("cursor", at: \.cursorText)
                Field("type", at: \.type)
                Field("time", at: \.time)
                Field("timeMs", at: \.timeMs)
                Field("terminalId", at: \.terminalId)
                Field("basketId", at: \.basketId)
                Field("employeeId", at: \.employeeId)
                Field("source", at: \.source)
                Field("correlationId", at: \.correlationId)
                Field("causationId", at: \.causationId)
                Field("payload", at: \.payloadJSON)
            }
            Type(RecommendationPushView.self, as: "RecommendationPush") {
                Field("id", at: \.id)
                Field("cursor", at: \.cursor)
                Field("basketId", at: \.basketId)
                Field("recommendations", at: \.recommendations)
            }
            Subscription {
                SubscriptionField("basketEvents", as: LiveEvent.self, atSub: Resolver.basketEvents) {
                    Argument("basketId", at: \.basketId)
                    Argument("after", at: \.after)
                }
                SubscriptionField("ageVerificationEvents", as: LiveEvent.self, atSub: Resolver.ageVerificationEvents) {
                    Argument("basketId", at: \.basketId)
                    Argument("after", at: \.after)
                }
                SubscriptionField("recommendations", at: LiveEvent.recommendationPush, atSub: Resolver.recommendationEvents) {
                    Argument("basketId", at: \.basketId)
                    Argument("after", at: \.after)
                }
                SubscriptionField("terminalEvents", as: LiveEvent.self, atSub: Resolver.terminalEvents) {
                    Argument("terminalId", at: \.terminalId)
                    Argument("after", at: \.after)
                }
                SubscriptionField("storeFraudAlerts", as: LiveEvent.self, atSub: Resolver.storeFraudAlerts) {
                    Argument("after", at: \.after)
                }
            }
        }
    }
}
