// The demo page at `/`, driven in Debian's Chromium by playwright-core (which never downloads
// a browser). Run by .ci/run against a server it starts; by hand:
//
//   TESSERA_JWT__REUSE_GRACE=1s target/debug/tessera serve --listen 127.0.0.1:8080 --database memory: &
//   cd tests/browser && npm ci && TESSERA_URL=http://127.0.0.1:8080 node --test
//
// TESSERA_REUSE_GRACE_SECONDS tells the replay test how long the server's reuse grace is
// (default 1, matching the command above). Screenshots go to test-output/screenshots/ at the
// workspace root (ignored by git).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const BASE = (process.env.TESSERA_URL || '').replace(/\/$/, '');
const GRACE_SECONDS = Number(process.env.TESSERA_REUSE_GRACE_SECONDS || 1);
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../../test-output/screenshots/', import.meta.url));
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

const EMAIL = `demo-${Date.now()}-${process.pid}@example.com`;
const PASSWORD = 'correct horse battery staple';

let browser;
let page;
/** Console errors, page errors, failed requests and CSP violations: any is a failure. */
const problems = [];
/** 4xx answers of the API that the page provokes on purpose (the browser logs them). */
const expectedApiErrors = [];

before(async () => {
  assert.ok(BASE, 'set TESSERA_URL to the server under test, e.g. http://127.0.0.1:8080');
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
    ],
  });
  const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB', timezoneId: 'UTC' });
  // Report CSP violations both ways: into the console, and into a list the tests read.
  await context.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      const text = `${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile || ''}:${e.lineNumber || 0})`;
      window.__cspViolations.push(text);
      console.error(`CSP violation: ${text}`);
    });
  });
  page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on('console', (msg) => {
    if (msg.type() !== 'error' && msg.type() !== 'warning') return;
    const url = msg.location().url || '';
    const text = msg.text();
    // The browser logs every 4xx fetch. The page provokes some on purpose (a wrong password, a
    // replayed token, a call after logout): those are the API's answers, shown on the page.
    if (/^Failed to load resource: the server responded with a status of 4\d\d/.test(text) && url.startsWith(`${BASE}/v1/`)) {
      expectedApiErrors.push(`${text} ${url}`);
      return;
    }
    if (msg.type() === 'error') problems.push(`console.error: ${text} at ${url}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('requestfailed', (req) => problems.push(`request failed: ${req.method()} ${req.url()} ${req.failure()?.errorText}`));
  page.on('response', (res) => {
    const url = res.url();
    if (!url.startsWith(`${BASE}/v1/`) && res.status() >= 400) problems.push(`${res.status()} for ${url}`);
  });
});

after(async () => {
  await browser?.close();
});

/** No console error, page error or CSP violation so far. */
async function assertClean(step) {
  const csp = await page.evaluate(() => window.__cspViolations);
  assert.deepEqual(csp, [], `CSP violations during ${step}`);
  assert.deepEqual(problems, [], `console errors during ${step}`);
}

/** Waits until the element's text contains `text`, then returns the whole text. */
async function waitText(selector, text, timeout = 15_000) {
  try {
    await page.waitForFunction(
      ([sel, want]) => document.querySelector(sel)?.textContent.includes(want),
      [selector, text],
      { timeout },
    );
  } catch (e) {
    const got = await page.locator(selector).textContent().catch(() => '(missing)');
    throw new Error(`${selector} never contained ${JSON.stringify(text)}; it shows: ${got}`, { cause: e });
  }
  return page.locator(selector).textContent();
}

/** Waits until no button is busy (an action has finished). */
async function idle() {
  await page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'));
}

/** Screenshots at desktop and phone width (the visible screen and the whole page). */
async function screenshots(name) {
  for (const [label, size] of [['desktop-1280x800', DESKTOP], ['phone-390x844', PHONE]]) {
    await page.setViewportSize(size);
    await page.evaluate(() => window.scrollTo(0, 0));
    const overflow = await page.evaluate(() => {
      const width = document.documentElement.clientWidth;
      const wide = [...document.querySelectorAll('body *')]
        .filter((el) => el.getBoundingClientRect().right > width + 0.5 && el.getClientRects().length > 0)
        .filter((el) => !el.closest('.skip'))
        .map((el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}.${el.className}`);
      return { scroll: document.documentElement.scrollWidth, width, wide: wide.slice(0, 5) };
    });
    assert.ok(overflow.scroll <= overflow.width, `${name} overflows at ${label}: ${JSON.stringify(overflow)}`);
    assert.deepEqual(overflow.wide, [], `elements overflow at ${label} (${name})`);
    await page.screenshot({ path: `${SHOTS}${label}-${name}.png` });
    await page.screenshot({ path: `${SHOTS}${label}-${name}-full.png`, fullPage: true });
  }
  await page.setViewportSize(DESKTOP);
}

test('the page loads with its assets, a strict CSP, labelled inputs and named buttons', async () => {
  const res = await page.goto(`${BASE}/`);
  assert.equal(res.status(), 200);
  const csp = res.headers()['content-security-policy'];
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  await page.waitForLoadState('networkidle');
  assert.equal(await page.title(), 'Tessera · sessions and JWTs, side by side');
  // The stylesheet applied (the masthead is dark) and the script ran (buttons got their state).
  const masthead = await page.locator('.masthead').evaluate((el) => getComputedStyle(el).backgroundColor);
  assert.equal(masthead, 'rgb(31, 42, 68)');
  assert.equal(await page.locator('#session-state').textContent(), 'Signed out');
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input')]
    .filter((i) => i.labels.length === 0 || !i.labels[0].textContent.trim()).map((i) => i.id));
  assert.deepEqual(unlabelled, []);
  const unnamed = await page.evaluate(() => [...document.querySelectorAll('button')]
    .filter((b) => !(b.getAttribute('aria-label') || b.textContent).trim()).map((b) => b.outerHTML));
  assert.deepEqual(unnamed, []);
  await assertClean('loading');
});

test('register with the keyboard, log in with a session, and /v1/me says mode session', async () => {
  // Keyboard only: focus the first field, type, Tab, type, Enter.
  await page.focus('#register-email');
  await page.keyboard.type(EMAIL);
  await page.keyboard.press('Tab');
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Enter');
  await waitText('#register-msg', `Account created for ${EMAIL}`);
  assert.equal(await page.inputValue('#session-email'), EMAIL);

  await page.getByRole('button', { name: 'Log in with a session' }).click();
  await waitText('#session-state', 'Signed in');
  await waitText('#session-login-msg', `Signed in as ${EMAIL}`);
  const server = await waitText('#session-server', 'Idle expiry');
  assert.match(server, /Absolute expiry/);
  assert.match(server, /HeadlessChrome|Chrome/);
  const client = await page.locator('#session-client').textContent();
  assert.match(client, /HttpOnly: this page's JavaScript cannot read it/);
  assert.match(client, /CSRF token/);
  // The page really cannot read the cookie.
  assert.equal(await page.evaluate(() => document.cookie), '');
  assert.equal(await page.locator('#session-client dd code').first().textContent(), '""');

  await page.getByRole('button', { name: 'Call GET /v1/me' }).first().click();
  const me = await waitText('#session-me-msg', 'mode: session');
  assert.match(me, new RegExp(EMAIL.replace(/[.]/g, '\\.')));
  await assertClean('session login');
});

test('JWT login shows the decoded header and claims, its size and a live countdown', async () => {
  await page.getByRole('button', { name: 'Log in for tokens' }).click();
  await waitText('#jwt-state', 'Signed in');
  const header = JSON.parse(await page.locator('#jwt-header').textContent());
  const claims = JSON.parse(await page.locator('#jwt-claims').textContent());
  assert.equal(header.typ, 'at+jwt');
  assert.ok(header.alg && header.kid, JSON.stringify(header));
  for (const claim of ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'sid']) assert.ok(claim in claims, `claim ${claim}`);
  const token = await page.locator('#jwt-access-token').textContent();
  assert.equal(token.split('.').length, 3);
  assert.equal(await page.locator('#jwt-size').textContent(), `${Buffer.byteLength(token)} bytes`);
  // The server keeps the family whose id is the token's sid.
  await waitText('#jwt-server', claims.sid);
  // The countdown ticks.
  const first = await page.locator('#jwt-countdown').textContent();
  assert.match(first, /^1[45]:\d\d$/);
  await page.waitForFunction((t) => document.querySelector('#jwt-countdown').textContent !== t, first, { timeout: 3000 });
  // Tokens live in memory only.
  assert.deepEqual(await page.evaluate(() => [localStorage.length, sessionStorage.length]), [0, 0]);

  await page.locator('#jwt-me').click();
  await waitText('#jwt-me-msg', 'mode: jwt');
  await assertClean('JWT login');
});

test('the comparison strip and the device list show both kinds; screenshots', async () => {
  await page.getByRole('button', { name: 'Measure 200 calls of /v1/me each' }).click();
  await page.locator('#rtt-table').waitFor({ timeout: 60_000 });
  const rtt = await page.locator('#rtt-table').textContent();
  assert.match(rtt, /Session.*ms.*JWT.*ms/s);
  assert.match(await page.locator('#cmp-sent').textContent(), /Session\s*\d+ bytes.*JWT\s*\d+ bytes/s);
  assert.match(await page.locator('#cmp-stored').textContent(), /Session\s*\d+ bytes.*JWT\s*\d+ bytes/s);

  await page.getByRole('button', { name: 'List devices' }).click();
  const devices = await waitText('#devices-table', '2 signed-in devices');
  assert.match(devices, /Cookie session.*the Session column/s);
  assert.match(devices, /Token family.*the JWT column/s);
  await idle();
  await page.locator('#session-me').click();
  await waitText('#session-me-msg', 'mode: session');
  await screenshots('signed-in');
  await assertClean('comparison and devices');
});

test('session → JWT exchange and a forged request without the CSRF token', async () => {
  await page.getByRole('button', { name: 'Mint a token from this session' }).click();
  const minted = await waitText('#session-exchange-msg', 'mode: jwt');
  assert.match(minted, /"sid"/);
  await page.getByRole('button', { name: 'Log out without X-CSRF-Token' }).click();
  await waitText('#session-csrf-msg', 'csrf_failed');
  await waitText('#session-csrf-msg', 'still alive');
  assert.equal(await page.locator('#session-state').textContent(), 'Signed in');
  await assertClean('exchange and CSRF');
});

test('refresh rotates the refresh token', async () => {
  const before = await page.locator('#jwt-refresh-token').textContent();
  const jtiBefore = JSON.parse(await page.locator('#jwt-claims').textContent()).jti;
  await page.getByRole('button', { name: 'Refresh', exact: true }).click();
  await waitText('#jwt-refresh-msg', 'Rotated');
  const afterToken = await page.locator('#jwt-refresh-token').textContent();
  assert.notEqual(afterToken, before, 'the refresh token changes');
  assert.notEqual(JSON.parse(await page.locator('#jwt-claims').textContent()).jti, jtiBefore);
  await waitText('#jwt-server', '2 issued so far');
  await assertClean('refresh');
});

test('replaying the previous refresh token after the grace: reuse detected, the family dead', async () => {
  const newestRefresh = await page.locator('#jwt-refresh-token').textContent();
  const newestAccess = await page.locator('#jwt-access-token').textContent();
  // Past the grace (whole seconds on the server): a replay is theft, not a racing tab.
  await page.waitForTimeout(GRACE_SECONDS * 1000 + 1500);
  await page.getByRole('button', { name: 'Replay the previous refresh token' }).click();
  const msg = await waitText('#jwt-replay-msg', 'Reuse detected');
  assert.match(msg, /refresh_reused/);
  assert.match(msg, /The family is dead/);
  assert.match(msg, /POST \/v1\/token with the newest refresh token → 401/);
  assert.match(msg, /GET \/v1\/me with the newest access token → 401 token_revoked/);
  await waitText('#jwt-state', 'Family revoked');
  // The device list on screen follows: the family is gone from the server's list.
  const devices = await waitText('#devices-table', '1 signed-in device,');
  assert.doesNotMatch(devices, /Token family/);
  // Checked from outside the page too: both of the newest tokens are refused.
  const refresh = await fetch(`${BASE}/v1/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: newestRefresh }),
  });
  assert.equal(refresh.status, 401);
  const me = await fetch(`${BASE}/v1/me`, { headers: { authorization: `Bearer ${newestAccess}` } });
  assert.equal(me.status, 401);
  assert.equal((await me.json()).code, 'token_revoked');
  await screenshots('reuse-detected');
  await assertClean('replay');
});

test('log out everywhere: both columns fall', async () => {
  await page.getByRole('button', { name: 'Log in for tokens' }).click();
  await waitText('#jwt-state', 'Signed in');
  await waitText('#session-state', 'Signed in');
  await page.getByRole('button', { name: 'Log out everywhere' }).click();
  await waitText('#session-state', 'Logged out everywhere');
  await waitText('#jwt-state', 'Logged out everywhere');
  const msg = await waitText('#devices-msg', 'Logged out everywhere');
  assert.match(msg, /Session: GET \/v1\/me with the cookie → 401/);
  assert.match(msg, /JWT: GET \/v1\/me with the access token → 401/);
  assert.match(msg, /JWT: POST \/v1\/token with the refresh token → 401/);
  await waitText('#session-logout-msg', 'Not signed in');
  await waitText('#jwt-logout-msg', 'token_revoked');
  // The browser's own cookie no longer signs anything in.
  assert.equal(await page.evaluate(async () => (await fetch('/v1/me', { credentials: 'same-origin' })).status), 401);
  assert.equal(await page.locator('#session-me').isDisabled(), true);
  assert.equal(await page.locator('#jwt-me').isDisabled(), true);
  await screenshots('logged-out-everywhere');
  await assertClean('log out everywhere');
});

test('a wrong password gives a readable error on both sides', async () => {
  await page.fill('#session-password', 'not the password');
  await page.getByRole('button', { name: 'Log in with a session' }).click();
  const s = await waitText('#session-login-msg', 'Wrong email or password');
  assert.match(s, /401 invalid_credentials/);
  await page.fill('#jwt-password', 'not the password either');
  await page.getByRole('button', { name: 'Log in for tokens' }).click();
  const j = await waitText('#jwt-login-msg', 'Wrong email or password');
  assert.match(j, /401 invalid_credentials/);
  assert.equal(await page.locator('#session-state').textContent(), 'Logged out everywhere');
  await assertClean('wrong password');
});

test('too many failures: rate limited, with the Retry-After shown', async () => {
  const victim = `limited-${Date.now()}@example.com`;
  await page.fill('#session-email', victim);
  await page.fill('#session-password', 'wrong password');
  let text = '';
  for (let i = 0; i < 20 && !text.includes('Too many failed attempts'); i += 1) {
    await page.getByRole('button', { name: 'Log in with a session' }).click();
    await idle();
    text = await page.locator('#session-login-msg').textContent();
  }
  assert.match(text, /Too many failed attempts/);
  assert.match(text, /Try again in \d+:\d\d \(Retry-After: \d+\s+s\)/);
  assert.match(text, /429 rate_limited/);
  await screenshots('errors');
  await assertClean('rate limit');
  assert.ok(expectedApiErrors.length > 0, 'the page provoked API errors on purpose');
});
