package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
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

// bufPool holds the buffers of the /v1/me answers.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// writeUser answers 200 with the user as JSON: what writeJSON of
// newUserJSON(u) writes, without its reflection and allocations. /v1/me is
// the request every client makes most; a test holds the two encoders to the
// same bytes.
func writeUser(w http.ResponseWriter, u latchkey.User) {
	bp := bufPool.Get().(*[]byte)
	b := append(appendUser((*bp)[:0], u), '\n')
	setJSONHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	if cap(b) <= 4<<10 {
		*bp = b
		bufPool.Put(bp)
	}
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
