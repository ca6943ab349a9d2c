// Shared by the login and account pages: the API client, the token's
// place (sessionStorage, never a cookie), messages, and the base64url
// conversions of WebAuthn.

const TOKEN_KEY = 'latchkey.token';

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(t) {
  sessionStorage.setItem(TOKEN_KEY, t);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

// APIError is an answer of the API that is not a success: its status and
// its body ({code, detail, fields}), or a network failure (status 0).
export class APIError extends Error {
  constructor(status, body) {
    super((body && body.detail) || (status ? `The server answered ${status}.` : 'The server could not be reached.'));
    this.status = status;
    this.body = body || {};
    this.code = this.body.code || '';
  }
}

// api calls the API with a JSON body, the token when there is one, and
// answers the decoded JSON body (null for 204); an error is an APIError.
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'omit', cache: 'no-store', redirect: 'error' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const t = token();
  if (t) headers.Authorization = 'Bearer ' + t;
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new APIError(0, null);
  }
  let data = null;
  if (res.status !== 204) {
    try {
      data = await res.json();
    } catch (e) {
      data = null;
    }
  }
  if (!res.ok) {
    const err = new APIError(res.status, data);
    err.retryAfter = res.headers.get('Retry-After');
    throw err;
  }
  return data;
}

// describe is the text of an error for people: the detail, then what
// each field's messages say.
export function describe(err) {
  if (!(err instanceof APIError)) return (err && err.message) || String(err);
  const parts = [err.message];
  const fields = err.body.fields || {};
  for (const [name, msgs] of Object.entries(fields)) {
    parts.push(`${name.replace(/_/g, ' ')}: ${msgs.join(' ')}`);
  }
  if (err.retryAfter) parts.push(`Try again in ${err.retryAfter} s.`);
  return parts.join(' ');
}

// say writes text into an aria-live region; '' empties it (and the
// stylesheet hides it).
export function say(el, text) {
  el.textContent = text || '';
}

// $ finds the element with id.
export function $(id) {
  return document.getElementById(id);
}

// show shows or hides elements.
export function show(on, ...els) {
  for (const el of els) el.hidden = !on;
}

// busy disables a form's controls while fn runs, and says so. When fn
// returns an element, the focus goes to it once the controls are back
// (a disabled field cannot take it).
export async function busy(form, fn) {
  const controls = [...form.querySelectorAll('button, input')];
  const was = controls.map((c) => c.disabled);
  controls.forEach((c) => (c.disabled = true));
  form.setAttribute('aria-busy', 'true');
  let result;
  try {
    result = await fn();
    return result;
  } finally {
    controls.forEach((c, i) => (c.disabled = was[i]));
    form.removeAttribute('aria-busy');
    if (result instanceof HTMLElement) focus(result);
  }
}

// focus moves the keyboard focus to el, a heading or a field, so that a
// screen reader follows a step that replaced the form.
export function focus(el) {
  if (!el.hasAttribute('tabindex') && !/^(INPUT|BUTTON|SELECT|TEXTAREA|A)$/.test(el.tagName)) {
    el.setAttribute('tabindex', '-1');
  }
  el.focus();
}

// when formats an RFC 3339 time for people, in their time zone.
export function when(s) {
  if (!s) return '—';
  const d = new Date(s);
  return isNaN(d) ? s : d.toLocaleString();
}

// el makes an element with text and attributes (never parsed markup:
// what the API answers is shown as text).
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

// The WebAuthn routes answer 404 (not in this build) or 503 (not set up)
// when passkeys are off; the pages then hide their passkey controls.
export function passkeysOff(err) {
  return err instanceof APIError && (err.status === 404 || err.status === 405 || err.status === 503);
}

export function canPasskey() {
  return !!(window.PublicKeyCredential && navigator.credentials);
}

// base64url ↔ ArrayBuffer, as WebAuthn's JSON forms encode binary fields.
export function b64urlToBuf(s) {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

export function bufToB64url(buf) {
  const bytes = new Uint8Array(buf);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// publicKeyOptions splits an options answer of the WebAuthn routes into
// the publicKey options (binary fields decoded) and whatever else the
// answer carries (a ceremony id, say), which goes back with the answer.
export function publicKeyOptions(answer) {
  const { publicKey, mediation, ...rest } = answer || {};
  const pk = { ...(publicKey || answer) };
  pk.challenge = b64urlToBuf(pk.challenge);
  if (pk.user && typeof pk.user.id === 'string') pk.user = { ...pk.user, id: b64urlToBuf(pk.user.id) };
  for (const key of ['allowCredentials', 'excludeCredentials']) {
    if (Array.isArray(pk[key])) pk[key] = pk[key].map((c) => ({ ...c, id: b64urlToBuf(c.id) }));
  }
  return { publicKey: pk, extra: publicKey ? rest : {} };
}

// credentialJSON is a PublicKeyCredential in its JSON form (WebAuthn
// Level 3 toJSON), binary fields in base64url.
export function credentialJSON(cred) {
  const r = cred.response;
  const response = { clientDataJSON: bufToB64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = bufToB64url(r.attestationObject);
    if (r.getTransports) response.transports = r.getTransports();
  }
  if (r.authenticatorData) response.authenticatorData = bufToB64url(r.authenticatorData);
  if (r.signature) response.signature = bufToB64url(r.signature);
  if (r.userHandle) response.userHandle = bufToB64url(r.userHandle);
  return {
    id: cred.id,
    rawId: bufToB64url(cred.rawId),
    type: cred.type,
    authenticatorAttachment: cred.authenticatorAttachment || undefined,
    clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
    response,
  };
}
