// The login page in a real browser: Debian's Chromium driven by
// playwright-core against a running latchkey (LATCHKEY_UI=on), run by
// cmd/latchkey's TestBrowser:
//
//   node login.test.mjs BASE_URL OUT_DIR
//
// with LATCHKEY_CHROMIUM (the browser), LATCHKEY_USER and LATCHKEY_PASSWORD
// (an account without a second factor) in the environment. Screenshots go
// to OUT_DIR. It exits 1 at the first failure.

import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [base, out] = process.argv.slice(2);
const user = process.env.LATCHKEY_USER;
const password = process.env.LATCHKEY_PASSWORD;
const executablePath = process.env.LATCHKEY_CHROMIUM || '/usr/bin/chromium';
if (!base || !out || !user || !password) {
  console.error('usage: LATCHKEY_USER=… LATCHKEY_PASSWORD=… node login.test.mjs BASE_URL OUT_DIR');
  process.exit(2);
}
mkdirSync(out, { recursive: true });

// totp is the RFC 6238 code of the base32 secret at time t: HMAC-SHA-1,
// 6 digits, 30 s steps.
function totp(secret, t = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.replace(/=+$/, '').toUpperCase()) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error(`not base32: ${secret}`);
    bits += v.toString(2).padStart(5, '0');
  }
  const key = Buffer.alloc(Math.floor(bits.length / 8));
  for (let i = 0; i < key.length; i++) key[i] = parseInt(bits.slice(i * 8, i * 8 + 8), 2);
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(t / 1000 / 30)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const off = mac[mac.length - 1] & 0xf;
  const n = (mac.readUInt32BE(off) & 0x7fffffff) % 1e6;
  return String(n).padStart(6, '0');
}

// The RFC 6238 test vector (SHA-1, 59 s): the code above is the standard's.
if (totp('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 59 * 1000) !== '287082') throw new Error('totp: RFC 6238 vector');

async function apiCall(method, path, token, body) {
  const headers = { 'User-Agent': 'latchkey-browsertest-other-device/1.0' };
  if (token) headers.Authorization = 'Bearer ' + token;
  if (body) headers['Content-Type'] = 'application/json';
  const res = await fetch(base + path, { method, headers, body: body && JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

function check(ok, what) {
  if (!ok) throw new Error(what);
  console.log('ok', what);
}

const policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const profile = mkdtempSync(join(tmpdir(), 'latchkey-chromium-'));
// A fresh profile (--user-data-dir), and nothing that reaches out: this
// machine's network is closed.
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
  viewport: { width: 375, height: 812 },
  deviceScaleFactor: 2,
});
const problems = [];
let failed = false;
try {
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // An API error answer is logged by the browser itself: expected.
    if (/^Failed to load resource: the server responded with a status of (400|401|404)/.test(m.text())) return;
    if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  // Every answer under /ui/ carries the policy.
  page.on('response', (r) => {
    if (r.status() >= 429) problems.push(`${r.request().method()} ${r.url()}: ${r.status()}`);
    if (new URL(r.url()).pathname.startsWith('/ui/') && r.headers()['content-security-policy'] !== policy) {
      problems.push(`${r.url()}: ${r.status()} without the policy`);
    }
  });
  const shot = async (name) => {
    await page.screenshot({ path: join(out, name + '.png'), fullPage: true });
    console.log('screenshot', join(out, name + '.png'));
  };
  const error = page.locator('#error');
  const passkeysOn = (await apiCall('POST', '/v1/login/webauthn/options', null, {})).status === 200;

  const signIn = async () => {
    await page.goto(base + '/ui/');
    await page.getByLabel('Username').fill(user);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  };
  const logOut = async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(/\/ui\/\?signed-out$/);
    check((await page.evaluate(() => sessionStorage.length)) === 0, 'log out: the token leaves the tab');
  };
  const mfaStep = async () => {
    await page.locator('#mfa-form').waitFor({ state: 'visible' });
    check(await page.waitForFunction(() => document.activeElement.id === 'code', null, { timeout: 5000 }), 'second step: the focus is on the code');
  };

  // A session on another device, made before any failure: from then on
  // the server (LATCHKEY_CAPTCHA_REQUIRED=after-failures:1) asks for the
  // proof of work, which the page solves.
  const other = await apiCall('POST', '/v1/login', null, { username: user, password, device_name: 'Other laptop' });
  check(other.status === 200, 'a session on another device');
  let challenges = 0;
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/v1/captcha/challenge') challenges++;
  });

  // The login page, at phone width.
  const res = await page.goto(base + '/ui/');
  check(res.headers()['content-security-policy'] === policy, 'GET /ui/: the strict policy');
  check(await page.waitForFunction(() => document.activeElement.id === 'username', null, { timeout: 5000 }), 'login page: the focus is on the username');
  check(await page.evaluate(() => document.documentElement.scrollWidth <= 375), 'login page: no sideways scrolling at 375 px');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  check((await error.textContent()).includes('username'), 'an empty form: the error says so');
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill('not the password');
  await page.keyboard.press('Enter');
  await error.filter({ hasText: /./ }).waitFor();
  check(await page.waitForFunction(() => document.activeElement.id === 'password', null, { timeout: 5000 }), 'a wrong password: an error, the focus on the password');
  await shot('01-login-error');
  if (!passkeysOn) check(await page.locator('#passkey').isHidden(), 'passkeys off: no passkey button');
  await page.getByLabel('Password').fill(password);
  await page.getByLabel('Password').press('Enter');
  await page.waitForURL(/account\.html$/);
  await page.locator('#who').filter({ hasText: user }).waitFor();
  check(challenges > 0, `signed in with the password, the proof of work solved in the page (${challenges} challenge)`);
  await page.goto(base + '/ui/?signed-out');
  await page.evaluate(() => sessionStorage.clear());

  // The session of the other device, signed out from the account page:
  // its token is refused.
  await signIn();
  await page.waitForURL(/account\.html$/);
  const otherItem = page.locator('#sessions li', { hasText: 'Other laptop' });
  await otherItem.waitFor();
  check(await page.locator('#sessions .badge').count() === 1, 'sessions: this device is marked, once');
  check(await page.evaluate(() => document.documentElement.scrollWidth <= 375), 'account page: no sideways scrolling at 375 px');
  await shot('02-account');
  await otherItem.getByRole('button', { name: /Sign out Other laptop/ }).click();
  await otherItem.waitFor({ state: 'detached' });
  check((await apiCall('GET', '/v1/me', other.body.token)).status === 401, 'the signed-out session\'s token is refused by /v1/me');
  check((await page.locator('#status').textContent()).includes('Signed out Other laptop'), 'sessions: the sign-out is announced');

  // Two-step verification: the QR code and the key, a code, the
  // recovery codes once.
  await page.getByLabel('Your password').first().fill(password);
  await page.getByRole('button', { name: 'Set up two-step verification' }).click();
  const secretEl = page.locator('#totp-secret');
  await secretEl.filter({ hasText: /[A-Z2-7]{16,}/ }).waitFor();
  const secret = (await secretEl.textContent()).trim();
  check(await page.locator('#totp-qr').evaluate((img) => img.complete && img.naturalWidth > 0), 'enrolment: the QR code shows');
  await shot('03-totp-enrol');
  const enrolledAt = Date.now();
  await page.getByLabel('The 6-digit code the app shows').fill(totp(secret, enrolledAt));
  await page.getByRole('button', { name: 'Turn on' }).click();
  const codes = page.locator('#recovery-codes li');
  await codes.first().waitFor();
  const recovery = await codes.allTextContents();
  check(recovery.length === 10, 'confirmed: ten recovery codes');
  await shot('04-recovery-codes');
  await page.getByRole('button', { name: 'I have saved them' }).click();
  check(await codes.count() === 0, 'the recovery codes are gone from the page');
  await logOut();

  // Password, then the TOTP (the next step's code: this step's was used
  // to confirm, and each is good once).
  await signIn();
  await mfaStep();
  await shot('05-second-factor');
  await page.getByLabel('Code').fill(totp(secret, enrolledAt + 30000));
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL(/account\.html$/);
  check(true, 'signed in with the password and the TOTP');
  await logOut();

  // A recovery code works once.
  await signIn();
  await mfaStep();
  await page.getByLabel('Code').fill(recovery[0]);
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL(/account\.html$/);
  check(true, 'signed in with a recovery code');
  await logOut();
  await signIn();
  await mfaStep();
  await page.getByLabel('Code').fill(recovery[0]);
  await page.getByRole('button', { name: 'Verify' }).click();
  await error.filter({ hasText: /./ }).waitFor();
  check(page.url().endsWith('/ui/') && await page.locator('#mfa-form').isVisible(), 'the same recovery code again: refused');
  await shot('06-second-factor-refused');
  await page.getByLabel('Code').fill(recovery[1]);
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL(/account\.html$/);
  check(true, 'another recovery code, in the same sign-in');

  // Passkeys: the WebAuthn routes are not on every build. When the server
  // answers them, register a passkey with a virtual authenticator and
  // sign in with it; otherwise their controls stay hidden.
  if (passkeysOn) {
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
        isUserVerified: true, automaticPresenceSimulation: true,
      },
    });
    await page.locator('#passkeys').waitFor({ state: 'visible' });
    await page.getByLabel('Name (optional)').fill('Test authenticator');
    await page.locator('#passkey-password').fill(password);
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.locator('#passkey-list li', { hasText: 'Test authenticator' }).waitFor();
    await shot('07-passkeys');
    await logOut();
    await page.locator('#passkey').waitFor({ state: 'visible' });
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.waitForURL(/account\.html$/);
    check(true, 'signed in with a passkey');
  } else {
    console.log('SKIP passkeys: POST /v1/login/webauthn/options is not answered (404/503); the WebAuthn steps run once it is');
    check(await page.locator('#passkeys').isHidden(), 'passkeys off: no passkeys section');
  }

  check((await context.cookies()).length === 0, 'no cookie was set');
  await page.setViewportSize({ width: 1024, height: 768 });
  await page.goto(base + '/ui/account.html');
  await page.locator('#sessions li').first().waitFor();
  await shot('08-account-wide');
  await logOut();
  await page.setViewportSize({ width: 1024, height: 640 });
  await shot('09-login-wide');
  check(problems.length === 0, `no console error, page error or answer without the policy${problems.length ? ':\n' + problems.join('\n') : ''}`);
} catch (e) {
  failed = true;
  console.error('FAIL', e.stack || e);
  if (problems.length) console.error(problems.join('\n'));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
