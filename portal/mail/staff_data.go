package mail

// StaffInvitationMail invites a person of the town hall to the commune's
// back office, with the link where they choose their password.
type StaffInvitationMail struct {
	Common
	Name      string // the person's name, may be empty
	Role      string // the role's label: "Administrateur", "Agent", "Lecture seule"
	InvitedBy string // the administrator's address; empty when the platform invited
	Link      string // /gestion/invitation/<token> on the commune's host
	Validity  string // "7 jours"
	TOTP      bool   // the role must set up a second factor at first login
}
