package mail

// LinkMail is the data of the activation and reset mails.
type LinkMail struct {
	Common
	Link     string // the one-time link
	Validity string // "48 heures", "1 heure"
}

// AlreadyActiveMail is the data of the mail sent to an address that asked
// to activate an account it already has.
type AlreadyActiveMail struct {
	Common
	LoginURL string
	ResetURL string
}

// InvoiceItem is one invoice listed in a mail.
type InvoiceItem struct {
	Family    string
	Series    string
	Period    string
	Reference string
	Amount    string
	DueDate   string
	URL       string // the invoice's page; it survives the login step
}

// InvoicesMail tells an account that new invoices are ready.
type InvoicesMail struct {
	Common
	Subject  string // "Votre facture d'octobre 2026 est disponible"
	Invoices []InvoiceItem
	ListURL  string // "Mes factures"
}

// InvitationMail tells an address without an account that invoices are
// ready, and how to activate the account.
type InvitationMail struct {
	Common
	Subject       string
	Invoices      []InvoiceItem
	ActivationURL string
}

// ReceiptMail confirms an online payment to its payer.
type ReceiptMail struct {
	Common
	Reference  string
	Amount     string
	PaidAt     string
	Numauto    string
	Test       bool
	Anomaly    bool // the invoice needed no more money: it will be refunded
	InvoiceURL string
}
