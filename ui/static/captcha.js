// The login's captcha: the built-in proof of work, solved here with
// SubtleCrypto, or the widget of reCAPTCHA (v2), hCaptcha or Turnstile,
// whose script comes from its provider (allowed by the page's policy only
// when that provider is set).

import { api } from './common.js';

const widgets = {
  recaptcha: { src: 'https://www.google.com/recaptcha/api.js', global: 'grecaptcha' },
  hcaptcha: { src: 'https://js.hcaptcha.com/1/api.js', global: 'hcaptcha' },
  turnstile: { src: 'https://challenges.cloudflare.com/turnstile/v0/api.js', global: 'turnstile' },
};

export class Captcha {
  // cfg is config.json's captcha: {provider, site_key, always}; box is
  // where a widget goes.
  constructor(cfg, box) {
    this.provider = (cfg && cfg.provider) || 'none';
    this.siteKey = (cfg && cfg.site_key) || '';
    this.box = box;
    this.needed = this.provider !== 'none' && !!(cfg && cfg.always);
    this.widget = null;
    this.api = null;
  }

  // require marks the captcha as needed from now on (the API said so),
  // and shows the widget.
  require() {
    if (this.provider === 'none') return;
    this.needed = true;
    this.show();
  }

  // show puts the widget on the page, once, when one is needed.
  show() {
    const w = widgets[this.provider];
    if (!this.needed || !w || this.loading) return;
    this.box.hidden = false;
    this.loading = new Promise((resolve, reject) => {
      const cb = 'latchkeyCaptchaLoaded';
      window[cb] = () => resolve(window[w.global]);
      const s = document.createElement('script');
      s.src = `${w.src}?onload=${cb}&render=explicit`;
      s.async = true;
      s.addEventListener('error', () => reject(new Error('The captcha could not be loaded.')));
      document.head.append(s);
    }).then((g) => {
      this.api = g;
      this.widget = g.render(this.box, { sitekey: this.siteKey, action: 'login' });
    });
    this.loading.catch(() => {});
  }

  // response is what the login sends as captcha: '' when none is needed;
  // for pow, a solved challenge; for a widget, its answer (an error when
  // the person has not answered it yet).
  async response(progress) {
    if (!this.needed) return '';
    if (this.provider === 'pow') {
      progress('Checking this browser (a few seconds at most)…');
      try {
        return await solvePoW();
      } finally {
        progress('');
      }
    }
    if (this.loading) await this.loading;
    const r = this.api && this.api.getResponse(this.widget);
    if (!r) throw new Error('Please answer the captcha first.');
    return r;
  }

  // reset readies a widget for another answer after a failed login: an
  // answer is good once.
  reset() {
    if (this.api && this.widget !== null) this.api.reset(this.widget);
  }
}

// solvePoW fetches a challenge and finds the number behind it, as the
// ALTCHA widget does: SHA-256(salt + n) = challenge, n ≤ maxnumber. The
// answer is base64(JSON), what the API reads from the captcha field.
export async function solvePoW() {
  const ch = await api('GET', '/v1/captcha/challenge');
  if (!crypto.subtle) throw new Error('The captcha needs a secure page (HTTPS).');
  const target = ch.challenge.toLowerCase();
  const enc = new TextEncoder();
  const start = performance.now();
  const batch = 1000;
  for (let from = 0; from <= ch.maxnumber; from += batch) {
    const jobs = [];
    for (let n = from; n < from + batch && n <= ch.maxnumber; n++) {
      jobs.push(crypto.subtle.digest('SHA-256', enc.encode(ch.salt + n)));
    }
    const sums = await Promise.all(jobs);
    for (let i = 0; i < sums.length; i++) {
      if (hex(sums[i]) === target) {
        const number = from + i;
        const took = Math.round(performance.now() - start);
        return btoa(JSON.stringify({ algorithm: ch.algorithm, challenge: ch.challenge, number, salt: ch.salt, signature: ch.signature, took }));
      }
    }
  }
  throw new Error('The captcha could not be solved; try again.');
}

function hex(buf) {
  const b = new Uint8Array(buf);
  let s = '';
  for (let i = 0; i < b.length; i++) s += b[i].toString(16).padStart(2, '0');
  return s;
}
