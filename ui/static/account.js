// The account page: sessions, security events, two-step verification,
// passkeys, the password, and logging out.

import {
  $, api, busy, canPasskey, clearToken, credentialJSON, describe, el, focus, passkeysOff, publicKeyOptions, say, setToken,
  show, token, when,
} from './common.js';

const error = $('error');
const status = $('status');

function done(text) {
  say(error, '');
  say(status, text);
}

// fail says what went wrong; field, returned for busy to focus, is
// focused now when it can be.
function fail(err, field) {
  say(status, '');
  say(error, describe(err));
  if (field && !field.disabled) focus(field);
  return field;
}

// signedOut leaves for the login page: the token is gone or refused.
function signedOut(query) {
  clearToken();
  location.replace('./' + (query ? '?' + query : ''));
}

// call is api, except that a refused token leaves the page.
async function call(method, path, body) {
  try {
    return await api(method, path, body);
  } catch (err) {
    if (err.status === 401 && ['invalid_token', 'token_expired', 'not_authenticated'].includes(err.code)) {
      signedOut('signed-out');
      await new Promise(() => {}); // the page is going away
    }
    throw err;
  }
}

// handle runs a form's action with its controls disabled.
function handle(form, fn) {
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    say(error, '');
    busy(form, async () => {
      try {
        return await fn();
      } catch (err) {
        return fail(err, err.field || form.querySelector('input:not([hidden])'));
      }
    });
  });
}

// device names a session for people: its device name, else its browser.
function device(s) {
  if (s.device_name) return s.device_name;
  const ua = s.user_agent || '';
  const m = ua.match(/(Firefox|Edg|Chrome|Safari|curl|python-requests|Go-http-client)\/[\d.]+/);
  return m ? m[0].replace('Edg/', 'Edge/') : ua || 'Unknown device';
}

async function loadSessions() {
  const { sessions } = await call('GET', '/v1/sessions');
  const list = $('sessions');
  list.replaceChildren();
  for (const s of sessions) {
    const name = device(s);
    const item = el('li', { 'data-session': s.id },
      el('div', {},
        el('strong', { text: name }),
        s.current ? el('span', { class: 'badge', text: 'This device' }) : '',
        el('p', { class: 'meta', text: `${s.ip || 'unknown address'} · signed in ${when(s.created_at)} · last used ${when(s.last_used_at)}` })));
    if (!s.current) {
      const b = el('button', { type: 'button', class: 'secondary', text: 'Sign out this device', 'aria-label': `Sign out ${name}, ${s.ip}` });
      b.addEventListener('click', () => busy(item, async () => {
        try {
          await call('DELETE', `/v1/sessions/${encodeURIComponent(s.id)}`);
          done(`Signed out ${name}.`);
          await Promise.all([loadSessions(), loadEvents()]);
          focus($('sessions-title'));
        } catch (err) {
          fail(err);
        }
      }));
      item.append(b);
    }
    list.append(item);
  }
}

const eventNames = {
  'login.success': 'Signed in',
  'login.failure': 'Failed sign-in',
  'login.throttled': 'Sign-in refused: too many attempts',
  'login.captcha_refused': 'Sign-in refused: captcha',
  'login.mfa_required': 'Password accepted, code asked',
  logout: 'Signed out',
  'password.change': 'Password changed',
  'session.delete': 'Device signed out',
  'user.disable': 'Account disabled',
  'user.enable': 'Account enabled',
  'mfa.failure': 'Wrong two-step code',
  'mfa.totp_enroll': 'Two-step setup started',
  'mfa.totp_confirm': 'Two-step verification turned on',
  'mfa.totp_disable': 'Two-step verification turned off',
  'mfa.reset': 'Two-step verification reset by an administrator',
  'mfa.recovery_code_use': 'Recovery code used',
};

async function loadEvents() {
  const { events } = await call('GET', '/v1/events?limit=20');
  const list = $('events');
  list.replaceChildren();
  if (events.length === 0) list.append(el('li', { text: 'Nothing yet.' }));
  for (const e of events) {
    list.append(el('li', {},
      el('strong', { text: eventNames[e.kind] || e.kind }),
      el('p', { class: 'meta', text: `${when(e.at)} · ${e.ip || 'unknown address'}` })));
  }
}

// Two-step verification: password → QR code and key → a code → the
// recovery codes, shown once.
handle($('totp-start'), async () => {
  const pw = $('totp-password');
  const t = await call('POST', '/v1/mfa/totp', { password: pw.value });
  pw.value = '';
  $('totp-qr').src = 'data:image/png;base64,' + t.qr_png;
  $('totp-secret').textContent = t.secret;
  show(false, $('totp-start'));
  show(true, $('totp-enrol'));
  done('Scan the code, then enter the code your app shows.');
  focus($('totp-enrol-title'));
});

handle($('totp-confirm'), async () => {
  const code = $('totp-code');
  const { recovery_codes: codes } = await call('POST', '/v1/mfa/totp/confirm', { code: code.value });
  code.value = '';
  $('totp-secret').textContent = '';
  $('totp-qr').removeAttribute('src');
  $('recovery-codes').replaceChildren(...codes.map((c) => el('li', { text: c })));
  show(false, $('totp-enrol'));
  show(true, $('totp-recovery'));
  done('Two-step verification is on.');
  focus($('totp-recovery-title'));
  loadEvents();
});

$('totp-recovery-done').addEventListener('click', () => {
  $('recovery-codes').replaceChildren();
  show(false, $('totp-recovery'));
  show(true, $('totp-start'));
  focus($('totp-title'));
});

handle($('totp-disable'), async () => {
  await call('DELETE', '/v1/mfa/totp', { password: $('totp-off-password').value, code: $('totp-off-code').value });
  $('totp-off-password').value = '';
  $('totp-off-code').value = '';
  $('totp-off').open = false;
  done('Two-step verification is off.');
  loadEvents();
});

// Passkeys: shown only when the server answers the WebAuthn routes.
async function loadPasskeys() {
  const answer = await call('GET', '/v1/webauthn/credentials');
  const list = $('passkey-list');
  list.replaceChildren();
  const creds = (answer && (answer.credentials || answer.passkeys)) || [];
  if (creds.length === 0) list.append(el('li', { text: 'No passkeys yet.' }));
  for (const c of creds) {
    const name = c.name || c.device_name || 'Passkey';
    const item = el('li', { 'data-passkey': c.id },
      el('div', {},
        el('strong', { text: name }),
        el('p', { class: 'meta', text: `added ${when(c.created_at)}` + (c.last_used_at ? ` · last used ${when(c.last_used_at)}` : '') })));
    const b = el('button', { type: 'button', class: 'secondary', text: 'Remove', 'aria-label': `Remove the passkey ${name}` });
    b.addEventListener('click', () => busy(item, async () => {
      try {
        await call('DELETE', `/v1/webauthn/credentials/${encodeURIComponent(c.id)}`);
        done(`Removed the passkey ${name}.`);
        await loadPasskeys();
        focus($('passkeys-title'));
      } catch (err) {
        fail(err);
      }
    }));
    item.append(b);
    list.append(item);
  }
}

handle($('passkey-add'), async () => {
  say(status, 'Follow your browser to create the passkey…');
  const pw = $('passkey-password');
  const options = await call('POST', '/v1/webauthn/register/options', { password: pw.value });
  pw.value = '';
  const { publicKey, extra } = publicKeyOptions(options);
  let cred;
  try {
    cred = await navigator.credentials.create({ publicKey });
  } catch (err) {
    if (err.name === 'NotAllowedError') throw new Error('The passkey was not created: cancelled or timed out.');
    throw err;
  }
  const name = $('passkey-name').value.trim();
  const body = { ...extra, ...credentialJSON(cred) };
  if (name) body.name = name;
  await call('POST', '/v1/webauthn/register', body);
  $('passkey-name').value = '';
  done('Passkey added.');
  await loadPasskeys();
});

async function initPasskeys() {
  if (!canPasskey()) return;
  try {
    await loadPasskeys();
    show(true, $('passkeys'));
  } catch (err) {
    if (!passkeysOff(err)) console.warn('passkeys:', describe(err));
  }
}

// The password: a change answers a new token; every other is revoked.
handle($('password-change'), async () => {
  const body = { old_password: $('old-password').value, new_password: $('new-password').value };
  const code = $('pw-code').value.trim();
  if (code) body.code = code;
  try {
    const issued = await call('POST', '/v1/password', body);
    setToken(issued.token);
  } catch (err) {
    if (err.code === 'mfa_code_required') {
      const e = new Error('Enter a two-step code too: two-step verification is on.');
      e.field = $('pw-code');
      throw e;
    }
    throw err;
  }
  for (const id of ['old-password', 'new-password', 'pw-code']) $(id).value = '';
  done('Password changed. Every other device is signed out.');
  await Promise.all([loadSessions(), loadEvents()]);
});

$('logout').addEventListener('click', async () => {
  $('logout').disabled = true;
  try {
    await api('POST', '/v1/logout');
  } catch (err) {
    // Signed out or not, the token leaves this tab.
  }
  signedOut('signed-out');
});

async function init() {
  if (!token()) return signedOut('');
  try {
    const me = await call('GET', '/v1/me');
    $('who').textContent = me.username;
    $('pw-username').value = me.username;
    await Promise.all([loadSessions(), loadEvents(), initPasskeys()]);
  } catch (err) {
    fail(err);
  }
}

init();
