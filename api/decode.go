package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/latchkeyhq/latchkey"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 64 << 10

var (
	errTooLarge    = &latchkey.Error{Kind: latchkey.KindTooLarge, Code: latchkey.CodeRequestTooLarge, Detail: "The request body exceeds 64 KiB."}
	errUnsupported = &latchkey.Error{Kind: latchkey.KindUnsupported, Code: latchkey.CodeUnsupportedMediaType, Detail: "Send application/json or application/x-www-form-urlencoded."}
)

// fields is a decoded request body: the string values by name, and the
// names whose value was present but not a string, with that value (a
// JSON body's objects, which object reads).
type fields struct {
	values map[string]string
	bad    map[string]bool
	raw    map[string]json.RawMessage
}

// decodeRequired decodes the body and requires names in it, as most
// routes begin: decode, then fields.require.
func decodeRequired(w http.ResponseWriter, r *http.Request, names ...string) (fields, []string, error) {
	f, err := decode(w, r)
	if err != nil {
		return fields{}, nil, err
	}
	v, err := f.require(names...)
	return f, v, err
}

// decode reads a JSON object or a form body (url-encoded or multipart)
// into fields. It is the one body decoder of the API.
func decode(w http.ResponseWriter, r *http.Request) (fields, error) {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fields{}, errUnsupported
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return fields{}, errTooLarge
	}
	if err != nil {
		return fields{}, latchkey.Invalid("The request body could not be read.")
	}
	switch {
	case mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")):
		return decodeJSON(body)
	case mt == "application/x-www-form-urlencoded":
		vs, err := url.ParseQuery(string(body))
		if err != nil {
			return fields{}, latchkey.Invalid("The form body is malformed.")
		}
		return formFields(vs, nil)
	case mt == "multipart/form-data":
		return decodeMultipart(body, params["boundary"])
	}
	return fields{}, errUnsupported
}

// decodeJSON reads one JSON object. It walks the object's keys itself,
// rather than decoding into a map, which would keep the last of two equal
// keys where another parser (a proxy's, a firewall's) may keep the first.
func decodeJSON(body []byte) (fields, error) {
	notObject := latchkey.Invalid("The body must be a JSON object.")
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fields{}, notObject
	}
	f := fields{values: map[string]string{}}
	var seen map[string]bool // keys with a null value, absent from f
	var repeated []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fields{}, notObject
		}
		k, _ := t.(string) // a key is always a string
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return fields{}, notObject
		}
		if _, ok := f.values[k]; ok || f.bad[k] || seen[k] {
			repeated = append(repeated, k)
			continue
		}
		if len(v) > 0 && v[0] == '"' {
			var s string
			if err := json.Unmarshal(v, &s); err == nil {
				f.values[k] = s
				continue
			}
		}
		if string(v) == "null" {
			if seen == nil {
				seen = map[string]bool{}
			}
			seen[k] = true
			continue
		}
		if f.bad == nil {
			f.bad = map[string]bool{}
			f.raw = map[string]json.RawMessage{}
		}
		f.bad[k] = true
		f.raw[k] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return fields{}, notObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return fields{}, latchkey.Invalid("The body must hold one JSON object.")
	}
	if repeated != nil {
		return fields{}, errRepeated(repeated)
	}
	return f, nil
}

// errRepeated refuses a body that gives a field more than once: parsers
// disagree on which of the values counts, so none does.
func errRepeated(names []string) error {
	fs := make(map[string][]string, len(names))
	for _, n := range names {
		fs[n] = []string{"This field is repeated."}
	}
	return &latchkey.Error{Kind: latchkey.KindInvalid, Code: latchkey.CodeInvalidRequest, Detail: "The body repeats a field.", Fields: fs}
}

func decodeMultipart(body []byte, boundary string) (fields, error) {
	if boundary == "" {
		return fields{}, latchkey.Invalid("The multipart body has no boundary.")
	}
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	form, err := r.ReadForm(MaxBodyBytes)
	if err != nil {
		return fields{}, latchkey.Invalid("The multipart body is malformed.")
	}
	defer form.RemoveAll()
	return formFields(form.Value, form.File)
}

// formFields returns the value of each form field, or refuses the form
// when a field is given more than once, as a value or as a file (a
// multipart part with a file name, otherwise ignored).
func formFields(vs map[string][]string, files map[string][]*multipart.FileHeader) (fields, error) {
	var repeated []string
	for k, v := range vs {
		if len(v) > 1 || len(files[k]) > 0 {
			repeated = append(repeated, k)
		}
	}
	for k, fs := range files {
		if len(fs) > 1 && len(vs[k]) == 0 {
			repeated = append(repeated, k)
		}
	}
	if repeated != nil {
		return fields{}, errRepeated(repeated)
	}
	f := fields{values: make(map[string]string, len(vs))}
	for k, v := range vs {
		if len(v) > 0 {
			f.values[k] = v[0]
		}
	}
	return f, nil
}

// require returns the named string fields, or an invalid_request error
// listing each one that is missing or not a string.
func (f fields) require(names ...string) ([]string, error) {
	out := make([]string, len(names))
	var errs map[string][]string
	for i, n := range names {
		v, ok := f.values[n]
		switch {
		case f.bad[n]:
			if errs == nil {
				errs = map[string][]string{}
			}
			errs[n] = []string{"Not a valid string."}
		case !ok || v == "":
			if errs == nil {
				errs = map[string][]string{}
			}
			errs[n] = []string{"This field is required."}
		}
		out[i] = v
	}
	if errs != nil {
		return nil, &latchkey.Error{Kind: latchkey.KindInvalid, Code: latchkey.CodeInvalidRequest, Detail: "Invalid input.", Fields: errs}
	}
	return out, nil
}

// optional returns the named string field, "" when it is absent, null or
// empty, or an invalid_request error when it is not a string.
func (f fields) optional(name string) (string, error) {
	if f.bad[name] {
		return "", latchkey.InvalidField(name, "Not a valid string.")
	}
	return f.values[name], nil
}

// credential returns the WebAuthn credential of a body: its field
// "credential" (see object) or, when it has none, the body itself
// without the fields named in own, when it holds a credential's fields
// at its top (a PublicKeyCredential.toJSON() spread into the body, with
// the route's own fields beside them).
func (f fields) credential(own ...string) (json.RawMessage, error) {
	_, inValues := f.values["credential"]
	if inValues || f.raw["credential"] != nil || f.raw["response"] == nil {
		return f.object("credential")
	}
	m := make(map[string]json.RawMessage, len(f.values)+len(f.raw))
	for k, v := range f.values {
		if !slices.Contains(own, k) {
			m[k], _ = json.Marshal(v)
		}
	}
	for k, v := range f.raw {
		if !slices.Contains(own, k) {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, latchkey.InvalidField("credential", "Not a JSON object.")
	}
	return b, nil
}

// object returns the named field, a JSON object (a WebAuthn credential),
// as its JSON text: the object of a JSON body, or a string that holds
// one (a form's field). It is an invalid_request error when the field
// is missing, or anything else.
func (f fields) object(name string) (json.RawMessage, error) {
	v := f.raw[name]
	if v == nil {
		if s, ok := f.values[name]; ok && s != "" {
			v = json.RawMessage(s)
		}
	}
	switch {
	case v == nil:
		return nil, latchkey.InvalidField(name, "This field is required.")
	case v[0] != '{' || !json.Valid(v):
		return nil, latchkey.InvalidField(name, "Not a JSON object.")
	}
	return v, nil
}
