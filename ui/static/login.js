// The login page: the password (and captcha), then the second factor
// when the API asks for one, or a passkey.

import {
  $, api, busy, canPasskey, credentialJSON, describe, focus, publicKeyOptions, say, setToken, show, token,
} from './common.js';
import { Captcha } from './captcha.js';

const form = $('password-form');
const mfaForm = $('mfa-form');
const error = $('error');
const status = $('status');
let mfaToken = '';
let captcha = new Captcha(null, $('captcha'));

// signedIn keeps the token for this tab and opens the account page.
function signedIn(issued) {
  setToken(issued.token);
  location.assign('account.html');
}

// fail says what went wrong and marks field, which it returns for busy
// to focus (or focuses now, outside busy).
function fail(err, field) {
  say(status, '');
  say(error, describe(err));
  if (field) {
    field.setAttribute('aria-invalid', 'true');
    if (!field.disabled) focus(field);
  }
  return field;
}

// needsSecondFactor switches to the code step.
function needsSecondFactor(body) {
  mfaToken = body.mfa_token;
  show(false, form, $('passkey'));
  show(true, mfaForm);
  say(error, '');
  say(status, 'Your password is right. One more step.');
  $('code').value = '';
  focus($('code'));
}

function startOver(message) {
  mfaToken = '';
  show(false, mfaForm);
  show(true, form);
  showPasskey();
  $('password').value = '';
  say(error, message || '');
  focus($('username'));
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  say(error, '');
  const username = $('username');
  const password = $('password');
  for (const f of [username, password]) f.removeAttribute('aria-invalid');
  if (!username.value) return fail(new Error('Enter your username.'), username);
  if (!password.value) return fail(new Error('Enter your password.'), password);
  busy(form, async () => {
    // A pow captcha asked for by the API is solved and sent at once.
    for (let attempt = 0; attempt < 2; attempt++) {
      const body = { username: username.value, password: password.value };
      try {
        const c = await captcha.response((t) => say(status, t));
        if (c) body.captcha = c;
        say(status, 'Signing in…');
        return signedIn(await api('POST', '/v1/login', body));
      } catch (err) {
        if (err.code === 'mfa_required') return needsSecondFactor(err.body);
        captcha.reset();
        if (err.code === 'captcha_required' || (err.body && err.body.captcha_required)) {
          const first = !captcha.needed;
          captcha.require();
          if (first && captcha.provider === 'pow' && err.code === 'captcha_required') continue;
        }
        const field = err.code === 'invalid_credentials' ? password : null;
        return fail(err, field);
      }
    }
  });
});

mfaForm.addEventListener('submit', (e) => {
  e.preventDefault();
  say(error, '');
  const code = $('code');
  code.removeAttribute('aria-invalid');
  if (!code.value.trim()) return fail(new Error('Enter a code.'), code);
  busy(mfaForm, async () => {
    try {
      say(status, 'Checking the code…');
      signedIn(await api('POST', '/v1/login/mfa', { mfa_token: mfaToken, code: code.value }));
    } catch (err) {
      if (err.code === 'invalid_mfa_token') return startOver('That took too long or too many tries: sign in again. ' + describe(err));
      code.value = '';
      return fail(err, code);
    }
  });
});

$('mfa-cancel').addEventListener('click', () => startOver(''));

// Passkeys: the button shows only when config.json says the server has
// them (LATCHKEY_WEBAUTHN_RP_ID) and the browser has WebAuthn. Options are
// asked for only when the button is pressed: each keeps a challenge and
// spends the address's allowance of them.
let passkeys = false;

function showPasskey() {
  show(passkeys, $('passkey'));
}

$('passkey-login').addEventListener('click', () => {
  say(error, '');
  busy($('passkey'), async () => {
    try {
      say(status, 'Waiting for your passkey…');
      const { publicKey, extra } = publicKeyOptions(await api('POST', '/v1/login/webauthn/options', {}));
      const cred = await navigator.credentials.get({ publicKey });
      if (!cred) throw new Error('No passkey was chosen.');
      say(status, 'Signing in…');
      const answer = await api('POST', '/v1/login/webauthn', { ...extra, ...credentialJSON(cred) });
      signedIn(answer);
    } catch (err) {
      if (err && err.name === 'NotAllowedError') return fail(new Error('The passkey sign-in was cancelled or timed out.'));
      if (err && err.code === 'mfa_required') return needsSecondFactor(err.body);
      return fail(err);
    }
  });
});

async function init() {
  if (token()) {
    location.replace('account.html');
    return;
  }
  if (new URLSearchParams(location.search).has('signed-out')) say(status, 'You are signed out.');
  focus($('username'));
  try {
    const res = await fetch('config.json', { cache: 'no-cache', credentials: 'omit' });
    const cfg = await res.json();
    captcha = new Captcha(cfg.captcha, $('captcha'));
    captcha.show();
    passkeys = cfg.passkeys === true && canPasskey();
    if (!mfaToken) showPasskey();
  } catch (err) {
    console.warn('config.json:', err);
  }
}

init();
