/// The database schema, as numbered migrations applied at startup. Safe with several hosts
/// starting at once: each migration runs in a transaction holding an advisory lock, and skips
/// what is already recorded in `pos_schema_migrations`.
public enum PostgresSchema {
    /// Never edit a released migration: add a new one.
    static let migrations: [(version: Int, sql: String)] = [
        (
            1,
            """
            CREATE TABLE pos_plugin_config (
                name        text PRIMARY KEY,
                enabled     boolean NOT NULL,
                isolation   text NOT NULL DEFAULT 'process' CHECK (isolation IN ('process', 'inprocess')),
                settings    jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(settings) = 'object'),
                version     bigint NOT NULL,
                updated_at  timestamptz NOT NULL DEFAULT now(),
                updated_by  text NOT NULL
            );
            CREATE SEQUENCE pos_config_version;
            CREATE TABLE pos_plugin_config_audit (
                id          bigserial PRIMARY KEY,
                name        text NOT NULL,
                version     bigint NOT NULL,
                change      jsonb NOT NULL,
                changed_at  timestamptz NOT NULL DEFAULT now(),
                changed_by  text NOT NULL
            );
            CREATE TABLE pos_host_instances (
                host_id          text PRIMARY KEY,
                applied_version  bigint NOT NULL DEFAULT 0,
                seen_at          timestamptz NOT NULL DEFAULT now()
            );
            CREATE TABLE pos_plugin_state (
                plugin  text NOT NULL,
                key     bytea NOT NULL,
                value   bytea NOT NULL,
                PRIMARY KEY (plugin, key)
            );
            """
        ),
        (
            2,
            """
            CREATE TABLE pos_consumer_positions (
                plugin       text NOT NULL,
                topic        text NOT NULL,
                partition    int NOT NULL,
                next_offset  bigint NOT NULL,
                PRIMARY KEY (plugin, topic, partition)
            );
            CREATE TABLE pos_outbox (
                id              bigserial PRIMARY KEY,
                plugin          text NOT NULL,
                event_id        text NOT NULL,
                type            text NOT NULL,
                key             text NOT NULL,
                time_ms         bigint NOT NULL,
                payload         bytea NOT NULL,
                causation_id    text,
                correlation_id  text,
                source          text
            );
            """
        ),
        (
            3,
            """
            -- Exactly-once as a consumer: the events each plugin applied, written in the same
            -- transaction as its state; a re-delivered id is skipped. Pruned after the window.
            CREATE TABLE pos_applied_events (
                plugin      text NOT NULL,
                event_id    text NOT NULL,
                applied_at  timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (plugin, event_id)
            );
            CREATE INDEX pos_applied_events_age ON pos_applied_events (applied_at);
            -- One host at a time consumes and writes each plugin: the lease holder, fenced by epoch.
            CREATE TABLE pos_plugin_owners (
                plugin       text PRIMARY KEY,
                host_id      text NOT NULL,
                epoch        bigint NOT NULL,
                lease_until  timestamptz NOT NULL
            );
            """
        ),
        (
            4,
            """
            -- Causal delivery (ADR 14): emitted events stay in the outbox after publishing, in
            -- their order (event time, order id; byte order, as the host compares), until every
            -- plugin has passed them; each plugin's frontier and cursor tell the others how far
            -- it is.
            ALTER TABLE pos_outbox
                ADD COLUMN order_time  bigint,
                ADD COLUMN order_id    text COLLATE "C",
                ADD COLUMN published   boolean NOT NULL DEFAULT false,
                ADD COLUMN created_at  timestamptz NOT NULL DEFAULT now();
            CREATE INDEX pos_outbox_order ON pos_outbox (order_time, order_id);
            CREATE INDEX pos_outbox_unpublished ON pos_outbox (id) WHERE NOT published;
            CREATE TABLE pos_plugin_frontier (
                plugin         text PRIMARY KEY,
                frontier_time  bigint NOT NULL,
                frontier_id    text COLLATE "C" NOT NULL,
                cursor_time    bigint NOT NULL,
                cursor_id      text COLLATE "C" NOT NULL,
                read_positions text NOT NULL DEFAULT '',
                subscriptions  text NOT NULL DEFAULT '*',
                emits          text,
                active         boolean NOT NULL,
                updated_at     timestamptz NOT NULL DEFAULT now()
            );
            """
        ),
        (
            5,
            """
            -- The lease check of a commit as one statement that fails when the lease is lost, so
            -- that a commit can be sent in one round trip (pipelined) and still be fenced: the
            -- error aborts the writes sent with it (ADR 21).
            CREATE FUNCTION pos_fence(p_plugin text, p_host text, p_epoch bigint, p_seconds double precision) RETURNS void
            LANGUAGE plpgsql AS $fence$
            BEGIN
                UPDATE pos_plugin_owners SET lease_until = greatest(lease_until, now() + make_interval(secs => p_seconds))
                WHERE plugin = p_plugin AND host_id = p_host AND epoch = p_epoch;
                IF NOT FOUND THEN
                    RAISE EXCEPTION 'the lease of % is not held by % (epoch %)', p_plugin, p_host, p_epoch USING ERRCODE = 'PF001';
                END IF;
            END
            $fence$;
            """
        ),
    ]

    /// The advisory lock key serialising migrations ("pos-host" in ASCII).
    static let migrator = PostgresMigrator(
        table: "pos_schema_migrations", lockKey: "8100484143111116",
        migrations: migrations.map { PostgresMigrator.Migration(version: $0.version, sql: $0.sql) })

    public static var latestVersion: Int { migrator.latestVersion }

    /// Brings the database to the latest schema; returns the versions it applied.
    @discardableResult
    public static func migrate(_ connection: PostgresConnection) throws -> [Int] { try migrator.migrate(connection) }
}
