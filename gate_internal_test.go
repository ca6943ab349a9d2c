package latchkey

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestOutcomeOf(t *testing.T) {
	tests := []struct {
		err  error
		want Outcome
	}{
		{nil, OutcomeSuccess},
		{ErrInvalidCredentials, OutcomeFailure},
		{fmt.Errorf("login: %w", ErrInvalidCredentials), OutcomeFailure},
		{wrongPassword(), OutcomeFailure},
		{ErrOverloaded, OutcomeAbandoned},
		{ErrCaptchaInvalid, OutcomeAbandoned},
		{Unavailable(errors.New("db down")), OutcomeAbandoned},
		{InvalidField("username", "This field is required."), OutcomeAbandoned},
		{InvalidField("new_password", "Too short."), OutcomeAbandoned},
		{context.Canceled, OutcomeAbandoned},
	}
	for _, tt := range tests {
		if got := outcomeOf(tt.err); got != tt.want {
			t.Errorf("outcomeOf(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
