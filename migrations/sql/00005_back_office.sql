-- The town hall's back office: staff accounts, uploads run as jobs,
-- scheduled publications, the audit log, family search.

-- +goose Up

CREATE EXTENSION IF NOT EXISTS btree_gin;

-- A person of the town hall. TOTP secrets are stored encrypted with the
-- platform's secret; recovery codes as hashes, each usable once.
CREATE TABLE staff (
    tenant_id      bigint NOT NULL REFERENCES tenants (id),
    id             bigint GENERATED ALWAYS AS IDENTITY,
    email          text NOT NULL CHECK (email = lower(email)),
    name           text NOT NULL DEFAULT '',
    role           text NOT NULL CHECK (role IN ('administrateur', 'agent', 'lecture')),
    password_hash  text NOT NULL DEFAULT '',
    totp_secret    text NOT NULL DEFAULT '',
    totp_enabled   boolean NOT NULL DEFAULT false,
    recovery_codes text[] NOT NULL DEFAULT '{}',
    removed_at     timestamptz,
    invited_at     timestamptz NOT NULL DEFAULT now(),
    activated_at   timestamptz,
    last_login_at  timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX staff_email ON staff (tenant_id, email) WHERE removed_at IS NULL;

CREATE TABLE staff_tokens (
    tenant_id  bigint NOT NULL,
    id         bigint GENERATED ALWAYS AS IDENTITY,
    staff_id   bigint NOT NULL,
    token_hash bytea NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, staff_id) REFERENCES staff (tenant_id, id)
);
CREATE UNIQUE INDEX staff_tokens_hash ON staff_tokens (tenant_id, token_hash);

-- Every change staff make: who, what, when, before and after. regie_app may
-- insert and read it, never change it.
CREATE TABLE audit_log (
    tenant_id   bigint NOT NULL REFERENCES tenants (id),
    id          bigint GENERATED ALWAYS AS IDENTITY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_kind  text NOT NULL CHECK (actor_kind IN ('staff', 'operator', 'system', 'api')),
    actor_id    bigint,
    actor_email text NOT NULL DEFAULT '',
    action      text NOT NULL,
    target_type text NOT NULL DEFAULT '',
    target_id   text NOT NULL DEFAULT '',
    before      jsonb,
    after       jsonb,
    PRIMARY KEY (tenant_id, id)
);

-- An uploaded import file, checked then imported by jobs, so that a large
-- file never holds a request and leaving the page loses nothing.
CREATE TABLE import_uploads (
    tenant_id   bigint NOT NULL REFERENCES tenants (id),
    id          bigint GENERATED ALWAYS AS IDENTITY,
    staff_id    bigint,
    filename    text NOT NULL,
    file_key    text NOT NULL,
    zip_key     text NOT NULL DEFAULT '',
    size_bytes  bigint NOT NULL,
    status      text NOT NULL DEFAULT 'checking'
                CHECK (status IN ('checking', 'checked', 'invalid', 'importing', 'imported', 'failed')),
    progress    bigint NOT NULL DEFAULT 0,
    result      jsonb,
    error       text NOT NULL DEFAULT '',
    batch_id    bigint,
    publish_at  timestamptz,
    publish_now boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

-- A batch can be published at a chosen time; a wrongly published batch can
-- be cancelled as a whole.
ALTER TABLE import_batches ADD COLUMN publish_at timestamptz;
ALTER TABLE import_batches ADD COLUMN cancel_reason text NOT NULL DEFAULT '';
ALTER TABLE import_batches ADD COLUMN cancelled_at timestamptz;
CREATE INDEX import_batches_due ON import_batches (publish_at) WHERE status = 'imported' AND publish_at IS NOT NULL;
CREATE INDEX import_batches_recent ON import_batches (tenant_id, created_at DESC);

-- Back-office lists and the dashboard.
CREATE INDEX families_search ON families USING gin (tenant_id, name gin_trgm_ops);
CREATE INDEX invoices_by_status ON invoices (tenant_id, status, period DESC);
CREATE INDEX invoices_published ON invoices (tenant_id, published_at) WHERE published_at IS NOT NULL;
CREATE INDEX payment_attempts_recent ON payment_attempts (tenant_id, created_at DESC);
CREATE INDEX family_accounts_login ON family_accounts (tenant_id, last_login_at);

-- +goose StatementBegin
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['staff', 'staff_tokens', 'audit_log', 'import_uploads'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::bigint)
            WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::bigint)$p$, t);
    END LOOP;
END
$$;
-- +goose StatementEnd
GRANT SELECT, INSERT, UPDATE, DELETE ON staff, staff_tokens, import_uploads TO regie_app;
GRANT SELECT, INSERT ON audit_log TO regie_app;
-- administrators change their commune's settings (never its slug or status)
GRANT UPDATE (name, search_name, numcli, protocol, mode, logo_key, accent_color, contact_email, contact_phone,
    postal_address, legal_notice, privacy_notice, accessibility_statement, updated_at) ON tenants TO regie_app;

-- +goose Down
-- Forward-only.
