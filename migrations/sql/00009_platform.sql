-- The platform: operators and their audit, DGFiP reachability checks, the
-- communes' API keys and idempotent requests, and a commit-ordered cursor
-- for payments read back through the API.

-- +goose Up

-- Platform operators. Platform tables: no commune, no row-level security,
-- never granted to regie_app (operators act as the owner, in named
-- functions).
CREATE TABLE operators (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email          text NOT NULL UNIQUE CHECK (email = lower(email)),
    password_hash  text NOT NULL DEFAULT '',
    totp_secret    text NOT NULL DEFAULT '',
    totp_enabled   boolean NOT NULL DEFAULT false,
    recovery_codes text[] NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    activated_at   timestamptz,
    last_login_at  timestamptz,
    disabled_at    timestamptz
);

CREATE TABLE operator_tokens (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id bigint NOT NULL REFERENCES operators (id),
    token_hash  bytea NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Every operator action; those about a commune are also written to the
-- commune's own audit log.
CREATE TABLE operator_audit (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    operator_id    bigint REFERENCES operators (id),
    operator_email text NOT NULL DEFAULT '',
    action         text NOT NULL,
    commune_id     bigint REFERENCES tenants (id),
    target         text NOT NULL DEFAULT '',
    before         jsonb,
    after          jsonb
);
CREATE INDEX operator_audit_commune ON operator_audit (commune_id, id DESC) WHERE commune_id IS NOT NULL;

-- Whether DGFiP answers for a client number, checked in the background.
CREATE TABLE dgfip_checks (
    numcli     text PRIMARY KEY,
    ok         boolean NOT NULL,
    label      text NOT NULL DEFAULT '',
    error      text NOT NULL DEFAULT '',
    checked_at timestamptz NOT NULL
);

-- Keys of the commune's billing software. Only a hash is kept; the prefix
-- finds the key.
CREATE TABLE api_keys (
    tenant_id    bigint NOT NULL REFERENCES tenants (id),
    id           bigint GENERATED ALWAYS AS IDENTITY,
    name         text NOT NULL,
    prefix       text NOT NULL,
    key_hash     bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text NOT NULL DEFAULT '',
    revoked_at   timestamptz,
    last_used_at timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, prefix)
);

-- What an API request with an Idempotency-Key answered, to answer the same
-- again.
CREATE TABLE api_idempotency (
    tenant_id    bigint NOT NULL REFERENCES tenants (id),
    key          text NOT NULL,
    request_hash text NOT NULL,
    status       integer NOT NULL,
    body         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);

-- Payments read back in the order their transactions committed: a
-- transaction's id, and readers stop at the oldest still running, so a
-- cursor never skips a payment committed late.
ALTER TABLE payments ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX payments_by_xid ON payments (tenant_id, xid, id);

-- The API lists invoices by id, of a status or of a batch.
CREATE INDEX invoices_by_status_id ON invoices (tenant_id, status, id);
DROP INDEX invoices_by_batch;
CREATE INDEX invoices_by_batch ON invoices (tenant_id, batch_id, id);
CREATE INDEX api_idempotency_by_age ON api_idempotency (tenant_id, created_at);

-- +goose StatementBegin
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['api_keys', 'api_idempotency'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::bigint)
            WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::bigint)$p$, t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO regie_app', t);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- Forward-only.
