package django

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/latchkeyhq/latchkey"
)

// Dumpdata reads the output of `manage.py dumpdata auth.user
// authtoken.token` from in: a JSON array of objects (the default format),
// JSON lines (--format jsonl), or either gzipped (an output file ending in
// .gz). It decodes one object at a time and hands each user and token to
// h at once, so a dump of any size is read in constant memory. Objects of
// other models are skipped.
//
// A dump made with --natural-foreign names a token's user by username
// (Token.Username); one made with --natural-primary has no user ids,
// which latchkey keeps, and is refused.
func (r Reader) Dumpdata(ctx context.Context, in io.Reader, h Handler) error {
	userModel, _, err := r.userModel()
	if err != nil {
		return err
	}
	br := bufio.NewReaderSize(in, 64<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("django: dumpdata: %w", err)
		}
		defer gz.Close()
		br = bufio.NewReaderSize(gz, 64<<10)
	}
	first, err := firstByte(br)
	if err != nil {
		return fmt.Errorf("django: dumpdata: %w", err)
	}
	dec := json.NewDecoder(br)
	d := dumpReader{userModel: userModel, h: h}
	if first == '[' {
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("django: dumpdata: %w", err)
		}
	}
	for n := 1; ; n++ {
		if first == '[' && !dec.More() {
			break
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var o object
		if err := dec.Decode(&o); err != nil {
			if first == '{' && errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("django: dumpdata: object %d: %w", n, err)
		}
		if err := d.object(&o); err != nil {
			var cb callbackError
			if errors.As(err, &cb) {
				return cb.err
			}
			return fmt.Errorf("django: dumpdata: object %d (%s): %w", n, o.Model, err)
		}
	}
	if _, err := dec.Token(); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("django: dumpdata: no closing ]: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("django: dumpdata: data after the closing ]")
	}
	return nil
}

// firstByte returns the first byte of the JSON text, '[' or '{', skipping
// white space and a byte order mark, without consuming it.
func firstByte(br *bufio.Reader) (byte, error) {
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		br.Discard(3)
	}
	for {
		b, err := br.ReadByte()
		if errors.Is(err, io.EOF) {
			return 0, errors.New("empty input: want a JSON array or JSON lines")
		}
		if err != nil {
			return 0, err
		}
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		case '[', '{':
			return b, br.UnreadByte()
		}
		return 0, fmt.Errorf("input starts with %q: want a JSON array or JSON lines", b)
	}
}

// object is one serialized model instance. Fields stay raw until the
// model says what they hold.
type object struct {
	Model  string          `json:"model"`
	PK     json.RawMessage `json:"pk"`
	Fields json.RawMessage `json:"fields"`
}

// userFields are auth.User's fields as dumpdata writes them. Pointers
// tell a missing field from an empty one.
type userFields struct {
	Username   *string `json:"username"`
	Email      string  `json:"email"`
	FirstName  string  `json:"first_name"`
	LastName   string  `json:"last_name"`
	Password   *string `json:"password"`
	IsActive   *bool   `json:"is_active"`
	LastLogin  *string `json:"last_login"`
	DateJoined *string `json:"date_joined"`
}

type tokenFields struct {
	User    json.RawMessage `json:"user"`
	Created *string         `json:"created"`
}

// callbackError carries a Handler's error through unchanged.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

type dumpReader struct {
	userModel string
	h         Handler
}

func (d *dumpReader) object(o *object) error {
	switch o.Model {
	case d.userModel:
		u, err := d.user(o)
		if err != nil {
			return err
		}
		if d.h.User != nil {
			if err := d.h.User(u); err != nil {
				return callbackError{err}
			}
		}
	case tokenModel:
		t, err := d.token(o)
		if err != nil {
			return err
		}
		if d.h.Token != nil {
			if err := d.h.Token(t); err != nil {
				return callbackError{err}
			}
		}
	}
	return nil
}

func (d *dumpReader) user(o *object) (User, error) {
	var u User
	id, err := intPK(o.PK)
	if err != nil {
		return u, err
	}
	var f userFields
	if err := strictDecode(o.Fields, &f); err != nil {
		return u, err
	}
	switch {
	case f.Username == nil:
		return u, errors.New(`no "username" field`)
	case f.Password == nil:
		return u, errors.New(`no "password" field`)
	}
	u = User{
		ID:        id,
		Username:  *f.Username,
		Email:     f.Email,
		FirstName: f.FirstName,
		LastName:  f.LastName,
		Password:  *f.Password,
		IsActive:  f.IsActive == nil || *f.IsActive,
	}
	if f.LastLogin != nil {
		if u.LastLogin, err = parseTime(*f.LastLogin); err != nil {
			return u, fmt.Errorf("last_login: %w", err)
		}
	}
	if f.DateJoined != nil {
		if u.DateJoined, err = parseTime(*f.DateJoined); err != nil {
			return u, fmt.Errorf("date_joined: %w", err)
		}
	}
	return u, nil
}

func (d *dumpReader) token(o *object) (Token, error) {
	var t Token
	var key string
	if err := json.Unmarshal(o.PK, &key); err != nil || len(o.PK) == 0 {
		return t, errors.New(`"pk" is not a token key`)
	}
	t.Key = latchkey.Token(key)
	var f tokenFields
	if err := strictDecode(o.Fields, &f); err != nil {
		return t, err
	}
	if f.Created == nil {
		return t, errors.New(`no "created" field`)
	}
	var err error
	if t.Created, err = parseTime(*f.Created); err != nil {
		return t, fmt.Errorf("created: %w", err)
	}
	switch {
	case len(f.User) == 0 || string(f.User) == "null":
		return t, errors.New(`no "user" field`)
	case f.User[0] == '[':
		// A natural key: [username].
		var nk []string
		if err := json.Unmarshal(f.User, &nk); err != nil || len(nk) != 1 {
			return t, errors.New(`"user" is neither an id nor a [username] natural key`)
		}
		if nk[0] == "" {
			return t, errors.New(`"user" is an empty username`)
		}
		t.Username = nk[0]
	default:
		if t.UserID, err = intPK(f.User); err != nil {
			return t, fmt.Errorf(`"user": %w`, err)
		}
	}
	return t, nil
}

// intPK reads an integer primary key.
func intPK(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, errors.New(`no "pk": dump without --natural-primary, so that ids are kept`)
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("pk %s is not an integer", raw)
	}
	id, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("pk %s is not an integer", raw)
	}
	return id, nil
}

// strictDecode decodes an object's fields, refusing invalid UTF-8, which
// encoding/json would silently replace.
func strictDecode(raw json.RawMessage, v any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return errors.New(`no "fields"`)
	}
	if !utf8.Valid(raw) {
		return errors.New("fields are not valid UTF-8")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("fields: %w", err)
	}
	return nil
}
