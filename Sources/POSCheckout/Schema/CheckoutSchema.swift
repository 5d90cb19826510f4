import POSPlatform

/// pos-api's tables, beside pos-host's in the same database, as numbered migrations with their
/// own record (`pos_api_schema_migrations`). Money is integer cents everywhere.
public enum CheckoutSchema {
    public static let migrator = PostgresMigrator(
        table: "pos_api_schema_migrations",
        // "pos-api" in ASCII, as pos-host's key is "pos-host".
        lockKey: "112111115459711210",
        migrations: [
            .init(version: 1, sql: """
                CREATE EXTENSION IF NOT EXISTS pg_trgm;
                CREATE TABLE api_employees (
                    id             bigint PRIMARY KEY,
                    code           text NOT NULL UNIQUE,
                    username       text NOT NULL UNIQUE,
                    display_name   text NOT NULL,
                    role           text NOT NULL CHECK (role IN ('CASHIER', 'MANAGER', 'ADMIN')),
                    password_hash  text NOT NULL,
                    active         boolean NOT NULL DEFAULT true
                );
                CREATE TABLE api_sessions (
                    token_hash      bytea PRIMARY KEY,
                    employee_id     bigint NOT NULL REFERENCES api_employees,
                    terminal_id     text NOT NULL,
                    created_at      timestamptz NOT NULL DEFAULT now(),
                    expires_at      timestamptz NOT NULL,
                    revoked_at      timestamptz,
                    revoked_reason  text
                );
                CREATE INDEX api_sessions_live_by_terminal ON api_sessions (terminal_id) WHERE revoked_at IS NULL;
                CREATE INDEX api_sessions_live_by_employee ON api_sessions (employee_id) WHERE revoked_at IS NULL;
                CREATE TABLE api_login_failures (
                    subject    text NOT NULL,
                    failed_at  timestamptz NOT NULL DEFAULT now()
                );
                CREATE INDEX api_login_failures_by_subject ON api_login_failures (subject, failed_at);
                CREATE TABLE api_products (
                    id           text PRIMARY KEY,
                    name         text NOT NULL,
                    barcode      text UNIQUE,
                    price_cents  bigint NOT NULL CHECK (price_cents >= 0),
                    category     text NOT NULL,
                    tax_class    text NOT NULL DEFAULT 'standard',
                    minimum_age  int CHECK (minimum_age BETWEEN 1 AND 150),
                    active       boolean NOT NULL DEFAULT true
                );
                CREATE INDEX api_products_name_trigram ON api_products USING gin (lower(name) gin_trgm_ops);
                CREATE INDEX api_products_id_trigram ON api_products USING gin (lower(id) gin_trgm_ops);
                CREATE TABLE api_customers (
                    id             text PRIMARY KEY,
                    first_name     text NOT NULL,
                    last_name      text NOT NULL,
                    email          text,
                    phone          text,
                    loyalty_card   text,
                    tier           text NOT NULL DEFAULT 'BRONZE',
                    points         bigint NOT NULL DEFAULT 0
                );
                -- Identifiers normalised as customer_lookup normalises them (phone +digits,
                -- lower-case email, CARD_<digits>).
                CREATE TABLE api_customer_identifiers (
                    identifier   text PRIMARY KEY,
                    customer_id  text NOT NULL REFERENCES api_customers
                );
                CREATE TABLE api_baskets (
                    id                   text PRIMARY KEY,
                    terminal_id          text NOT NULL,
                    employee_id          bigint NOT NULL REFERENCES api_employees,
                    customer_id          text REFERENCES api_customers,
                    customer_identifier  text,
                    status               text NOT NULL CHECK (status IN ('OPEN', 'PAID', 'CANCELLED')),
                    next_line            int NOT NULL DEFAULT 1,
                    created_at           timestamptz NOT NULL DEFAULT now(),
                    closed_at            timestamptz
                );
                CREATE INDEX api_baskets_open_by_employee ON api_baskets (employee_id) WHERE status = 'OPEN';
                CREATE TABLE api_basket_lines (
                    basket_id         text NOT NULL REFERENCES api_baskets,
                    line_id           int NOT NULL,
                    product_id        text NOT NULL REFERENCES api_products,
                    quantity          int NOT NULL CHECK (quantity > 0),
                    unit_price_cents  bigint NOT NULL CHECK (unit_price_cents >= 0),
                    tax_class         text NOT NULL,
                    minimum_age       int,
                    removed           boolean NOT NULL DEFAULT false,
                    PRIMARY KEY (basket_id, line_id)
                );
                -- One payment per basket. The idempotency key is unique: the first request with a key
                -- claims it (PENDING), the others wait for its result; a completed payment's result
                -- is returned to every retry with its key.
                CREATE TABLE api_payments (
                    basket_id        text PRIMARY KEY REFERENCES api_baskets,
                    idempotency_key  text NOT NULL UNIQUE,
                    status           text NOT NULL CHECK (status IN ('PENDING', 'COMPLETED')),
                    employee_id      bigint NOT NULL,
                    total_cents      bigint NOT NULL,
                    result           text,
                    created_at       timestamptz NOT NULL DEFAULT now(),
                    completed_at     timestamptz
                );
                CREATE TABLE api_tenders (
                    basket_id        text NOT NULL REFERENCES api_payments,
                    seq              int NOT NULL,
                    method           text NOT NULL CHECK (method IN ('CASH', 'CARD')),
                    amount_cents     bigint NOT NULL CHECK (amount_cents > 0),
                    tendered_cents   bigint NOT NULL,
                    change_cents     bigint NOT NULL DEFAULT 0,
                    reference        text,
                    PRIMARY KEY (basket_id, seq)
                );
                -- Card attempts that were declined or timed out, for the audit.
                CREATE TABLE api_card_attempts (
                    id               bigserial PRIMARY KEY,
                    basket_id        text NOT NULL,
                    idempotency_key  text NOT NULL,
                    amount_cents     bigint NOT NULL,
                    outcome          text NOT NULL,
                    reference        text,
                    at               timestamptz NOT NULL DEFAULT now()
                );
                -- A manager's approval of something a cashier may not do alone.
                CREATE TABLE api_approvals (
                    id                    bigserial PRIMARY KEY,
                    kind                  text NOT NULL,
                    basket_id             text NOT NULL,
                    requested_by          bigint NOT NULL,
                    approver_employee_id  bigint NOT NULL REFERENCES api_employees,
                    detail                text NOT NULL,
                    at                    timestamptz NOT NULL DEFAULT now()
                );
                -- The transactional outbox: each change commits with its event; the relay
                -- publishes in seq order and records where the event landed.
                CREATE TABLE api_outbox (
                    seq          bigserial PRIMARY KEY,
                    event_id     text NOT NULL UNIQUE,
                    key          text NOT NULL,
                    -- The basket (or flow) the event belongs to, to find its latest position.
                    correlation  text,
                    type         text NOT NULL,
                    value        bytea NOT NULL,
                    published    boolean NOT NULL DEFAULT false,
                    partition    int,
                    "offset"     bigint,
                    created_at   timestamptz NOT NULL DEFAULT now()
                );
                CREATE INDEX api_outbox_unpublished ON api_outbox (seq) WHERE NOT published;
                CREATE INDEX api_outbox_by_correlation ON api_outbox (correlation, seq);
                -- Recommendations shown to a till, numbered for the original's client (which
                -- answers them by an integer id), with the cashier's answer.
                CREATE TABLE api_recommendations (
                    id           bigserial PRIMARY KEY,
                    basket_id    text NOT NULL REFERENCES api_baskets,
                    product_id   text NOT NULL,
                    status       text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'ACCEPTED', 'REJECTED')),
                    answered_by  bigint,
                    answered_at  timestamptz,
                    UNIQUE (basket_id, product_id)
                );
                """),
        ])
}
