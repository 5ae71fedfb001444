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
