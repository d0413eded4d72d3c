package grants

import "errors"

// Errors the service returns, always wrapped in a *UserError whose message
// can be shown to the person who acted. Classify with errors.Is.
var (
	ErrUnknownRole     = errors.New("unknown role")
	ErrInvalidInput    = errors.New("invalid input")
	ErrIneligible      = errors.New("not eligible")
	ErrSelfApproval    = errors.New("self-approval")
	ErrNotApprover     = errors.New("not an approver")
	ErrAlreadyApproved = errors.New("already approved by this approver")
	ErrDecided         = errors.New("request already decided")
	ErrNotAllowed      = errors.New("not allowed")
	ErrGrantFailed     = errors.New("grant failed")
	ErrRateLimited     = errors.New("too many requests")
	// ErrTampered: the record failed its integrity check; it was stopped
	// and whatever it held is being revoked (Request.Quarantine).
	ErrTampered = errors.New("record failed its integrity check")
	// ErrNotGrantable: a record in Granting does not match what the
	// catalog and its approvals allow; nothing was issued.
	ErrNotGrantable = errors.New("not grantable")
)

// UserError is an error whose message is safe and useful to show to the
// person who acted, e.g. "duration 5h exceeds prod-admin's max of 2h".
type UserError struct {
	Msg string
	Err error // the class: one of the Err… values above
}

func (e *UserError) Error() string { return e.Msg }
func (e *UserError) Unwrap() error { return e.Err }

func userErr(class error, msg string) error { return &UserError{Msg: msg, Err: class} }
