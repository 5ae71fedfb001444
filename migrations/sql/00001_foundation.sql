-- Foundation: the application role, communes (tenants) and their custom domains.
--
-- Row-level security contract (DESIGN.md "Data"): every table with a tenant_id
-- column has RLS enabled with the tenant policy below, a primary key that
-- starts with tenant_id and foreign keys that include it. Tenant work runs as
-- regie_app (tenant.WithTx does SET LOCAL ROLE), so policies apply even when the
-- connection logs in as the owner; owner-level work (migrations, COPY, backups,
-- host resolution) runs as the owner, which the policies do not bind since
-- FORCE is deliberately not set.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    -- Roles are cluster-wide: another database of this cluster, or the
    -- platform's administrator on a managed service where the owner may not
    -- create roles, may have made it. PostgreSQL checks the right to create
    -- a role before whether it exists, hence the look first.
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'regie_app') THEN
        CREATE ROLE regie_app NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object THEN
    NULL; -- made meanwhile by a concurrent migration of another database
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'regie_app', 'MEMBER') THEN
        EXECUTE format('GRANT regie_app TO %I', current_user);
    END IF;
END
$$;
-- +goose StatementEnd

GRANT USAGE ON SCHEMA public TO regie_app;

-- Trigram indexes serve substring searches (commune and family names).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- River's job tables (created just before by rivermigrate): tenant transactions
-- insert jobs in the same transaction as the change that causes them.
GRANT SELECT, INSERT, UPDATE ON river_job TO regie_app;
GRANT USAGE ON SEQUENCE river_job_id_seq TO regie_app;

-- The communes. A platform table: its own key is id. Operators change it as
-- the owner; regie_app may read (and later update the settings of) only the
-- commune of its transaction.
CREATE TABLE tenants (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug                    text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    name                    text NOT NULL CHECK (name <> ''),
    -- name folded by Go (lower case, no accents, punctuation as spaces) for
    -- the "find your commune" search on the base host
    search_name             text NOT NULL,
    numcli                  text NOT NULL CHECK (numcli ~ '^[0-9]{6}$'),
    protocol                text NOT NULL DEFAULT 'payfip' CHECK (protocol IN ('payfip', 'tipi')),
    mode                    text NOT NULL DEFAULT 'test' CHECK (mode IN ('test', 'activation', 'production')),
    status                  text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    logo_key                text NOT NULL DEFAULT '',
    accent_color            text NOT NULL DEFAULT '#1f4e8c' CHECK (accent_color ~ '^#[0-9a-f]{6}$'),
    contact_email           text NOT NULL DEFAULT '',
    contact_phone           text NOT NULL DEFAULT '',
    postal_address          text NOT NULL DEFAULT '',
    legal_notice            text NOT NULL DEFAULT '',
    privacy_notice          text NOT NULL DEFAULT '',
    accessibility_statement text NOT NULL DEFAULT '',
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tenants_search_name ON tenants USING gin (search_name gin_trgm_ops);
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_self ON tenants
    USING (id = nullif(current_setting('app.tenant_id', true), '')::bigint)
    WITH CHECK (id = nullif(current_setting('app.tenant_id', true), '')::bigint);
GRANT SELECT ON tenants TO regie_app;

-- Custom domains of a commune (mairie-x.fr). Looked up by domain before the
-- commune is known (owner-level), hence the global unique index.
CREATE TABLE tenant_domains (
    tenant_id  bigint NOT NULL REFERENCES tenants (id),
    domain     text NOT NULL CHECK (domain = lower(domain) AND domain <> ''),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, domain)
);
CREATE UNIQUE INDEX tenant_domains_domain ON tenant_domains (domain);
ALTER TABLE tenant_domains ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_domains
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::bigint)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::bigint);
GRANT SELECT ON tenant_domains TO regie_app;

-- +goose Down
-- Forward-only: the project never migrates down.
