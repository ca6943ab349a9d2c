package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/latchkeyhq/latchkey"
)

// Header values shared by every response. net/http only reads them, so
// one slice each serves every request without an allocation.
var (
	contentTypeJSON = []string{"application/json"}
	noSniff         = []string{"nosniff"}
	noStore         = []string{"no-store"}
	noCache         = []string{"no-cache"}
)

// setJSONHeaders marks a response as JSON, never to be sniffed as
// anything else.
func setJSONHeaders(h http.Header) {
	h["Content-Type"] = contentTypeJSON
	h["X-Content-Type-Options"] = noSniff
}

// setNoStore keeps a response out of every cache, shared or the
// browser's: it carries a token or personal data.
func setNoStore(h http.Header) {
	h["Cache-Control"] = noStore
	h["Pragma"] = noCache
}

// writeJSON is the one encoder of the API but for the user of /v1/me,
// which appendUser encodes to the same bytes.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"code":"internal","detail":"Internal server error."}`)
	}
	setJSONHeaders(w.Header())
	w.WriteHeader(code)
	w.Write(b)
	w.Write(newline)
}

var newline = []byte{'\n'}

// The fixed answers of the probes, as writeJSON would encode them.
var (
	healthzBody = []byte(`{"status":"ok"}` + "\n")
	readyBody   = []byte(`{"status":"ready"}` + "\n")
)

// writeBody answers with a JSON body encoded beforehand.
func writeBody(w http.ResponseWriter, code int, body []byte) {
	setJSONHeaders(w.Header())
	w.WriteHeader(code)
	w.Write(body)
}

// userBody is a /v1/me answer's body, formatted once, and the user it
// was made of. The server keeps those of recent answers (recent), so
// that a client asking again gets the same bytes without their encoding.
type userBody struct {
	user latchkey.User
	body []byte
}

// newUserBody formats p's user: what writeJSON of newUserJSON(p.User)
// writes, without its reflection and allocations (a test holds the two
// encoders to the same bytes). Of the user it keeps what the body shows.
func newUserBody(p latchkey.Principal) *userBody {
	u := ownText(p.User)
	return &userBody{
		user: latchkey.User{ID: u.ID, Username: u.Username, Email: u.Email, FirstName: u.FirstName,
			LastName: u.LastName, LastLogin: u.LastLogin, DateJoined: u.DateJoined},
		body: append(appendUser(nil, u), '\n'),
	}
}

// ownText returns u with copies of its text. The in-process cache hands
// out strings over its shards' buffers, which it replaces as it compacts
// them: what the recent tables keep must not hold an old buffer alive.
func ownText(u latchkey.User) latchkey.User {
	u.Username, u.Email = strings.Clone(u.Username), strings.Clone(u.Email)
	u.FirstName, u.LastName = strings.Clone(u.FirstName), strings.Clone(u.LastName)
	u.PasswordHash = ""
	return u
}

// is reports whether b was made of p's user as it is now: of every field
// appendUser writes.
func (b *userBody) is(p latchkey.Principal) bool {
	u, v := &b.user, &p.User
	return u.ID == v.ID && u.Username == v.Username && u.Email == v.Email && u.FirstName == v.FirstName &&
		u.LastName == v.LastName && u.LastLogin.Equal(v.LastLogin) && u.DateJoined.Equal(v.DateJoined)
}

// appendUser appends the JSON of newUserJSON(u), as encoding/json writes it.
func appendUser(b []byte, u latchkey.User) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, u.ID, 10)
	b = append(b, `,"username":`...)
	b = appendString(b, u.Username)
	b = append(b, `,"email":`...)
	b = appendString(b, u.Email)
	b = append(b, `,"first_name":`...)
	b = appendString(b, u.FirstName)
	b = append(b, `,"last_name":`...)
	b = appendString(b, u.LastName)
	b = append(b, `,"last_login":`...)
	if u.LastLogin.IsZero() {
		b = append(b, "null"...)
	} else {
		b = appendTime(b, u.LastLogin)
	}
	b = append(b, `,"date_joined":`...)
	b = appendTime(b, u.DateJoined)
	return append(b, '}')
}

// appendTime appends t as timeJSON formats it, quoted: RFC 3339 holds no
// character JSON escapes.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendString appends s as a JSON string. Printable ASCII that
// encoding/json leaves alone is copied; anything else (quotes, escapes,
// HTML characters, control characters, non-ASCII) goes through
// encoding/json itself, so the two never disagree.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
