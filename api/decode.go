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
// names whose value was present but not a string.
type fields struct {
	values map[string]string
	bad    map[string]bool
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
		return formFields(vs), nil
	case mt == "multipart/form-data":
		return decodeMultipart(body, params["boundary"])
	}
	return fields{}, errUnsupported
}

func decodeJSON(body []byte) (fields, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return fields{}, latchkey.Invalid("The body must be a JSON object.")
	}
	if _, err := dec.Token(); err != io.EOF {
		return fields{}, latchkey.Invalid("The body must hold one JSON object.")
	}
	f := fields{values: make(map[string]string, len(raw))}
	for k, v := range raw {
		if len(v) > 0 && v[0] == '"' {
			var s string
			if err := json.Unmarshal(v, &s); err == nil {
				f.values[k] = s
				continue
			}
		}
		if string(v) == "null" {
			continue
		}
		if f.bad == nil {
			f.bad = map[string]bool{}
		}
		f.bad[k] = true
	}
	return f, nil
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
	return formFields(form.Value), nil
}

// formFields takes the first value of each form field.
func formFields(vs map[string][]string) fields {
	f := fields{values: make(map[string]string, len(vs))}
	for k, v := range vs {
		if len(v) > 0 {
			f.values[k] = v[0]
		}
	}
	return f
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
