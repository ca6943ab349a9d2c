// Package config is how latchkey reads a setting: each one is a flag of
// the latchkey commands and an environment variable, with a default, and
// a rule its value must pass (a duration within its range, a whole
// number). cmd/latchkey declares its settings with these rules, and the
// settings that a token check depends on (the database and cache URLs, the
// idle timeout, the cache's lease and size) are defined here once, for
// latchkey serve and package verify alike: a verifier given the servers'
// environment reads it exactly as they do.
package config

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
)

// Setting describes one setting.
type Setting struct {
	Flag    string // the flag of the latchkey commands: cache-max-staleness
	Env     string // its environment variable: LATCHKEY_CACHE_MAX_STALENESS
	Default string
	Help    string
	// Aliases are other variables accepted when Env is unset; Alias, when
	// set, converts their value (seconds to a duration, say).
	Aliases []string
	Alias   func(string) (string, error)
}

// Read sets v from getenv: from Env, else from the first alias set, else
// from Default. The error names the setting and where its value came
// from: "sync-interval (from LATCHKEY_SYNC_INTERVAL): must be …".
func (s Setting) Read(getenv func(string) string, v flag.Value) error {
	raw, from := s.Default, "default"
	if e := getenv(s.Env); e != "" {
		raw, from = e, s.Env
	} else {
		for _, a := range s.Aliases {
			if e := getenv(a); e != "" {
				conv, err := s.Alias(e)
				if err != nil {
					return fmt.Errorf("%s (from %s): %w", s.Flag, a, err)
				}
				raw, from = conv, a
				break
			}
		}
	}
	if err := v.Set(raw); err != nil {
		return fmt.Errorf("%s (from %s): %w", s.Flag, from, err)
	}
	return nil
}

// Var is a setting bound to the variable that its value sets.
type Var struct {
	Setting
	Value flag.Value
}

// Read sets the variable from getenv (Setting.Read).
func (v Var) Read(getenv func(string) string) error { return v.Setting.Read(getenv, v.Value) }

// Fill gives the variable the setting's default when a program left it at
// its zero value, and otherwise checks it with the setting's rule: a
// program is held to the values the environment may give.
func (v Var) Fill() error {
	if z, ok := v.Value.(interface{ IsZero() bool }); ok && z.IsZero() {
		if err := v.Value.Set(v.Default); err != nil {
			return fmt.Errorf("%s (from default): %w", v.Flag, err)
		}
		return nil
	}
	s := v.Value.String()
	if err := v.Value.Set(s); err != nil {
		return fmt.Errorf("%s %s: %w", v.Flag, s, err)
	}
	return nil
}

// String is the flag.Value of a string setting.
type String string

func (v *String) String() string     { return string(*v) }
func (v *String) Set(s string) error { *v = String(s); return nil }

// IsZero reports whether the string is empty.
func (v *String) IsZero() bool { return *v == "" }

// Int is the flag.Value of a whole number setting.
type Int int

func (v *Int) String() string { return strconv.Itoa(int(*v)) }
func (v *Int) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return errors.New("must be a whole number")
	}
	*v = Int(n)
	return nil
}

// IsZero reports whether the number is 0.
func (v *Int) IsZero() bool { return *v == 0 }

// Float is the flag.Value of a number setting.
type Float float64

func (v *Float) String() string { return strconv.FormatFloat(float64(*v), 'g', -1, 64) }
func (v *Float) Set(s string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return errors.New("must be a number")
	}
	*v = Float(f)
	return nil
}

// Secret is a string setting that --help and error messages never show.
type Secret string

func (v *Secret) String() string {
	if *v == "" {
		return ""
	}
	return "[redacted]"
}
func (v *Secret) Set(s string) error { *v = Secret(s); return nil }
