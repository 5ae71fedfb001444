-- Families (billing), family accounts and their one-time tokens, and the mail
-- log (portal). Every table is tenant-owned: see 00001 for the contract.

-- +goose Up

-- A family as the town hall knows it: its own family id (ref), name and
-- postal address, and one or more e-mail addresses.
CREATE TABLE families (
    tenant_id   bigint NOT NULL REFERENCES tenants (id),
    id          bigint GENERATED ALWAYS AS IDENTITY,
    ref         text NOT NULL CHECK (ref <> ''),
    name        text NOT NULL CHECK (name <> ''),
    address     text NOT NULL DEFAULT '',
    postal_code text NOT NULL DEFAULT '',
    city        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, ref)
);

-- Addresses are stored lower-cased: they compare case-insensitively.
CREATE TABLE family_emails (
    tenant_id  bigint NOT NULL,
    family_id  bigint NOT NULL,
    email      text NOT NULL CHECK (email = lower(email) AND email LIKE '%_@_%'),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, family_id, email),
    FOREIGN KEY (tenant_id, family_id) REFERENCES families (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX family_emails_by_email ON family_emails (tenant_id, email);

-- One login (one address) in one commune. It sees every family of the
-- commune that lists its address.
CREATE TABLE family_accounts (
    tenant_id           bigint NOT NULL REFERENCES tenants (id),
    id                  bigint GENERATED ALWAYS AS IDENTITY,
    email               text NOT NULL CHECK (email = lower(email)),
    password_hash       text NOT NULL,
    notify_invoices     boolean NOT NULL DEFAULT true,
    disabled_at         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    last_login_at       timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
);

-- Activation and password-reset links. Only a hash of the token is kept.
-- Using one link of an address uses up all of that address's links of the
-- same purpose.
CREATE TABLE family_tokens (
    tenant_id  bigint NOT NULL REFERENCES tenants (id),
    id         bigint GENERATED ALWAYS AS IDENTITY,
    purpose    text NOT NULL CHECK (purpose IN ('activation', 'reset')),
    email      text NOT NULL CHECK (email = lower(email)),
    token_hash bytea NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX family_tokens_hash ON family_tokens (tenant_id, token_hash);
CREATE INDEX family_tokens_open ON family_tokens (tenant_id, email, purpose) WHERE used_at IS NULL;

-- Every mail the platform sends, as sent: the send job reads it, staff see
-- it on the family's page. dedup_key makes producers idempotent.
CREATE TABLE mails (
    tenant_id  bigint NOT NULL REFERENCES tenants (id),
    id         bigint GENERATED ALWAYS AS IDENTITY,
    kind       text NOT NULL,
    to_addr    text NOT NULL CHECK (to_addr = lower(to_addr)),
    from_name  text NOT NULL,
    reply_to   text NOT NULL DEFAULT '',
    subject    text NOT NULL,
    text_body  text NOT NULL,
    html_body  text NOT NULL,
    dedup_key  text,
    state      text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'failed')),
    attempts   integer NOT NULL DEFAULT 0,
    last_error text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, dedup_key)
);
CREATE INDEX mails_by_addr ON mails (tenant_id, to_addr, created_at DESC);

-- +goose StatementBegin
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['families', 'family_emails', 'family_accounts', 'family_tokens', 'mails'] LOOP
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
