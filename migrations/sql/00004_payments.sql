-- Payments: attempts at DGFiP, money received, overpayments to refund.

-- +goose Up

-- One try at paying an invoice online. idop is DGFiP's operation id: it is
-- globally unique, because DGFiP's callbacks (one platform host for every
-- commune) find the attempt, hence the commune, by it.
CREATE TABLE payment_attempts (
    tenant_id          bigint NOT NULL REFERENCES tenants (id),
    id                 bigint GENERATED ALWAYS AS IDENTITY,
    invoice_id         bigint NOT NULL,
    protocol           text NOT NULL CHECK (protocol IN ('payfip', 'tipi')),
    mode               text NOT NULL CHECK (mode IN ('test', 'activation', 'production')),
    saisie             text NOT NULL CHECK (saisie IN ('T', 'X', 'W')),
    numcli             text NOT NULL CHECK (numcli ~ '^[0-9]{6}$'),
    refdet             text NOT NULL,
    exer               integer NOT NULL,
    amount_cents       bigint NOT NULL CHECK (amount_cents > 0),
    payer_email        text NOT NULL,
    idop               text UNIQUE,
    status             text NOT NULL DEFAULT 'created'
                       CHECK (status IN ('created', 'pending', 'paid', 'refused', 'abandoned', 'expired', 'error')),
    resultrans         text NOT NULL DEFAULT '',
    numauto            text NOT NULL DEFAULT '',
    transaction_at     timestamptz,
    -- what DGFiP (or whoever posted) said, every time, as received
    received           jsonb NOT NULL DEFAULT '[]',
    amount_mismatch    boolean NOT NULL DEFAULT false,
    error              text NOT NULL DEFAULT '',
    -- the family's browser came back; cancelled when DGFiP said A then
    returned_at        timestamptz,
    returned_cancelled boolean NOT NULL DEFAULT false,
    lookups            integer NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    settled_at         timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id)
);
CREATE INDEX payment_attempts_by_invoice ON payment_attempts (tenant_id, invoice_id, created_at DESC);
-- the reconciliation sweep (all communes) and the TIPI result matching
CREATE INDEX payment_attempts_open ON payment_attempts (updated_at) WHERE status IN ('created', 'pending');
CREATE INDEX payment_attempts_tipi ON payment_attempts (numcli, refdet) WHERE protocol = 'tipi' AND status = 'pending';

-- Money received for an invoice: a settled online attempt, or a payment at
-- the town hall's counter. applied is true for the payment that marked the
-- invoice paid; the others are anomalies staff must see.
CREATE TABLE payments (
    tenant_id    bigint NOT NULL REFERENCES tenants (id),
    id           bigint GENERATED ALWAYS AS IDENTITY,
    invoice_id   bigint NOT NULL,
    attempt_id   bigint,
    channel      text NOT NULL CHECK (channel IN ('online', 'counter')),
    means        text NOT NULL CHECK (means IN ('card', 'debit', 'cash', 'cheque', 'counter_card', 'other')),
    amount_cents bigint NOT NULL CHECK (amount_cents > 0),
    test         boolean NOT NULL DEFAULT false,
    paid_at      timestamptz NOT NULL,
    applied      boolean NOT NULL,
    anomaly      text NOT NULL DEFAULT '' CHECK (anomaly IN ('', 'overpayment', 'amount_mismatch', 'cancelled_invoice')),
    note         text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, attempt_id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id),
    FOREIGN KEY (tenant_id, attempt_id) REFERENCES payment_attempts (tenant_id, id)
);
CREATE INDEX payments_by_invoice ON payments (tenant_id, invoice_id);
CREATE INDEX payments_by_date ON payments (tenant_id, paid_at);
-- an invoice is paid once
CREATE UNIQUE INDEX payments_applied_once ON payments (tenant_id, invoice_id) WHERE applied;

-- Money taken that the invoice did not need: "trop-perçu — à rembourser".
CREATE TABLE overpayments (
    tenant_id    bigint NOT NULL REFERENCES tenants (id),
    id           bigint GENERATED ALWAYS AS IDENTITY,
    invoice_id   bigint NOT NULL,
    payment_id   bigint NOT NULL,
    amount_cents bigint NOT NULL CHECK (amount_cents > 0),
    reason       text NOT NULL,
    status       text NOT NULL DEFAULT 'to_refund' CHECK (status IN ('to_refund', 'refunded')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    refunded_at  timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, payment_id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id),
    FOREIGN KEY (tenant_id, payment_id) REFERENCES payments (tenant_id, id)
);

-- +goose StatementBegin
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['payment_attempts', 'payments', 'overpayments'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::bigint)
            WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::bigint)$p$, t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I TO regie_app', t);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- Forward-only.
