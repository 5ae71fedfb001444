-- Invoice series, import batches, invoices and their lines (billing).

-- +goose Up

-- A series numbers invoices without gaps: next_number is taken under the
-- row's lock in the publishing transaction. numcli, when set, replaces the
-- commune's DGFiP client number for the series' invoices.
CREATE TABLE series (
    tenant_id   bigint NOT NULL REFERENCES tenants (id),
    id          bigint GENERATED ALWAYS AS IDENTITY,
    code        text NOT NULL CHECK (code ~ '^[A-Z0-9]{1,10}$'),
    label       text NOT NULL CHECK (label <> ''),
    pattern     text NOT NULL CHECK (pattern LIKE '%{numero%'),
    numcli      text CHECK (numcli ~ '^[0-9]{6}$'),
    next_number bigint NOT NULL DEFAULT 1 CHECK (next_number > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, code)
);

-- One imported file. Its invoices are published together.
CREATE TABLE import_batches (
    tenant_id      bigint NOT NULL REFERENCES tenants (id),
    id             bigint GENERATED ALWAYS AS IDENTITY,
    filename       text NOT NULL DEFAULT '',
    status         text NOT NULL DEFAULT 'imported' CHECK (status IN ('imported', 'published', 'cancelled')),
    rows           integer NOT NULL DEFAULT 0,
    invoices       integer NOT NULL DEFAULT 0,
    total_cents    bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    published_at   timestamptz,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE invoices (
    tenant_id     bigint NOT NULL REFERENCES tenants (id),
    id            bigint GENERATED ALWAYS AS IDENTITY,
    family_id     bigint NOT NULL,
    series_id     bigint NOT NULL,
    batch_id      bigint NOT NULL,
    period        date NOT NULL CHECK (extract(day FROM period) = 1),
    -- the commune's own reference, or the one numbering gives at publication
    number        bigint,
    reference     text,
    refdet        text CHECK (refdet ~ '^[A-Za-z0-9]{6,30}$'),
    -- whether the reference came with the import (kept) or from numbering
    own_reference boolean NOT NULL DEFAULT false,
    issue_date    date,
    due_date      date NOT NULL,
    total_cents   bigint NOT NULL CHECK (total_cents > 0),
    status        text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'paid', 'cancelled')),
    -- the import's fingerprint of family, series, period, due date and lines
    content_hash  text NOT NULL,
    pdf_key       text NOT NULL DEFAULT '',
    paid_at       timestamptz,
    paid_test     boolean NOT NULL DEFAULT false,
    cancel_reason text NOT NULL DEFAULT '',
    cancelled_at  timestamptz,
    published_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, family_id) REFERENCES families (tenant_id, id),
    FOREIGN KEY (tenant_id, series_id) REFERENCES series (tenant_id, id),
    FOREIGN KEY (tenant_id, batch_id) REFERENCES import_batches (tenant_id, id),
    CHECK (status = 'draft' OR reference IS NOT NULL),
    CHECK ((number IS NULL) = own_reference OR status = 'draft')
);
CREATE UNIQUE INDEX invoices_reference ON invoices (tenant_id, reference);
CREATE UNIQUE INDEX invoices_refdet ON invoices (tenant_id, refdet);
CREATE UNIQUE INDEX invoices_number ON invoices (tenant_id, series_id, number);
-- "Mes factures": a family's invoices, newest first
CREATE INDEX invoices_by_family ON invoices (tenant_id, family_id, period DESC, id DESC);
-- the import matches invoices without reference by family, series and period
CREATE INDEX invoices_by_identity ON invoices (tenant_id, family_id, series_id, period) WHERE status <> 'cancelled';
CREATE INDEX invoices_by_batch ON invoices (tenant_id, batch_id);

CREATE TABLE invoice_lines (
    tenant_id        bigint NOT NULL,
    invoice_id       bigint NOT NULL,
    position         integer NOT NULL,
    label            text NOT NULL,
    -- quantities are exact decimals (hours of day care): thousandths
    quantity_milli   bigint NOT NULL CHECK (quantity_milli > 0),
    unit_price_cents bigint NOT NULL,
    total_cents      bigint NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id, position),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id) ON DELETE CASCADE
);

-- +goose StatementBegin
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['series', 'import_batches', 'invoices', 'invoice_lines'] LOOP
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
