package policy

import (
	"errors"
	"fmt"
)

// maxErrors bounds how many problems one load reports: a generated file
// that is wrong everywhere should not flood the log.
const maxErrors = 20

// errorList collects problems up to maxErrors and counts the rest.
type errorList struct {
	errs []error
	more int
}

func (l *errorList) add(err error) {
	if len(l.errs) < maxErrors {
		l.errs = append(l.errs, err)
		return
	}
	l.more++
}

func (l *errorList) err() error {
	errs := l.errs
	if l.more > 0 {
		errs = append(errs, fmt.Errorf("... and %d more errors", l.more))
	}
	return errors.Join(errs...)
}
