// Tessera's demo page: both workflows side by side, over the public HTTP API only.
//
// No framework and no build step. Everything the server sends is put on the page with
// textContent (never innerHTML). The JWT column keeps its tokens in this closure's memory only,
// never in localStorage: reloading the page forgets them, while the session cookie survives.
'use strict';

(() => {
  // ---------------------------------------------------------------- helpers

  const $ = (id) => document.getElementById(id);
  const encoder = new TextEncoder();
  const bytes = (s) => encoder.encode(s).length;

  /** Creates an element: h('p', {class: 'x'}, 'text', child, ...). */
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === false || v === null || v === undefined) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.append(kid instanceof Node ? kid : String(kid));
    }
    return el;
  }

  const code = (text, cls) => h('code', { class: cls }, text);
  const muted = (text) => h('p', { class: 'muted' }, text);

  /** A definition list from [term, value] pairs (values may be nodes). */
  function dl(rows) {
    return h('dl', { class: 'facts' }, rows.filter(Boolean).map(([t, v]) => [h('dt', null, t), h('dd', null, v)]));
  }

  function show(id, ...nodes) {
    $(id).replaceChildren(...nodes.flat(Infinity).filter(Boolean));
  }

  const pad = (n) => String(n).padStart(2, '0');

  /** 905 → "15:05"; 2592000 → "30 d 0 h". */
  function duration(seconds) {
    const s = Math.max(0, Math.round(seconds));
    if (s >= 86400) return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
    if (s >= 3600) return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
    return `${Math.floor(s / 60)}:${pad(s % 60)}`;
  }

  /** 900 → "15 minutes"; 2592000 → "30 days". */
  function span(seconds) {
    const s = Math.max(0, Math.round(seconds));
    const unit = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
    if (s >= 86400 && s % 86400 === 0) return unit(s / 86400, 'day');
    if (s >= 3600) return unit(Math.round(s / 3600), 'hour');
    if (s >= 60) return unit(Math.round(s / 60), 'minute');
    return unit(s, 'second');
  }

  /** "in 29 min", "4 s ago". */
  function relative(ms) {
    const diff = Math.round((ms - Date.now()) / 1000);
    const abs = Math.abs(diff);
    if (abs < 2) return 'just now';
    let text;
    if (abs < 60) text = `${abs} s`;
    else if (abs < 3600) text = `${Math.round(abs / 60)} min`;
    else if (abs < 86400 * 2) text = `${Math.round(abs / 3600)} h`;
    else text = `${Math.round(abs / 86400)} days`;
    return diff >= 0 ? `in ${text}` : `${text} ago`;
  }

  /** An RFC 3339 time as local time plus how far away it is. */
  function when(iso) {
    const ms = Date.parse(iso);
    if (Number.isNaN(ms)) return iso;
    const d = new Date(ms);
    const sameDay = d.toDateString() === new Date().toDateString();
    const date = sameDay ? '' : `${d.toLocaleDateString([], { month: 'short', day: 'numeric' })}, `;
    return h('span', null, `${date}${clock(ms)} `, h('span', { class: 'muted' }, `(${relative(ms)})`));
  }

  /** A time of day, to the second. */
  const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });

  /** First and last characters of a secret, for "before → after" lines. */
  const short = (t) => (t && t.length > 20 ? `${t.slice(0, 8)}…${t.slice(-6)}` : t || '');

  function b64urlDecode(part) {
    let s = part.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    const bin = atob(s);
    return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
  }

  /** The header and claims of a JWT, unverified: the server verifies, the page only shows. */
  function decodeJwt(token) {
    const parts = token.split('.');
    return { parts, header: JSON.parse(b64urlDecode(parts[0])), claims: JSON.parse(b64urlDecode(parts[1])) };
  }

  // ---------------------------------------------------------------- the API

  /**
   * One call of the API. Never throws: the result has `ok`, `status`, `data` (parsed JSON),
   * `ms` (round trip), `retryAfter`, and for failures `error` (the problem+json body).
   */
  async function api(method, path, { body, bearer, csrf } = {}) {
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    if (csrf) headers['X-CSRF-Token'] = csrf;
    const started = performance.now();
    let res;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'same-origin',
        cache: 'no-store',
      });
    } catch (e) {
      return {
        ok: false,
        status: 0,
        ms: performance.now() - started,
        error: { code: 'network', title: 'No answer', detail: String(e && e.message ? e.message : e) },
      };
    }
    const text = await res.text();
    const ms = performance.now() - started;
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    const out = { ok: res.ok, status: res.status, data, ms, retryAfter: res.headers.get('Retry-After') };
    if (!res.ok) {
      out.error = data && typeof data.code === 'string'
        ? data
        : { code: `http_${res.status}`, title: res.statusText || 'Error', detail: text.slice(0, 200) };
    }
    return out;
  }

  /** What each error code means to a person. */
  const EXPLAIN = {
    invalid_credentials: ['Wrong email or password', 'The server does not say which of the two was wrong.'],
    rate_limited: ['Too many failed attempts', 'The server refuses further tries for this account from this address for a while, even with the right password.'],
    token_expired: ['The access token has expired', 'Its exp has passed. Refresh for a new one, or log in again.'],
    token_revoked: ['The access token was revoked', 'Its signature is still valid, but every node now denies it.'],
    refresh_reused: ['Reuse detected', 'This refresh token had already been rotated. Presented after the grace, it looks stolen: the server revoked the whole family.'],
    invalid_grant: ['The refresh token is no longer valid', 'It is unknown, expired, or its family was revoked. Log in again.'],
    unauthorized: ['Not signed in', 'No live credential came with the request: it expired, was ended, or was never there.'],
    csrf_failed: ['Refused: CSRF check failed', 'A cookie-authenticated POST or DELETE needs the X-CSRF-Token header.'],
    conflict: ['That email is already registered', 'Log in with it below, or pick another email.'],
    invalid_request: ['The server refused the request', ''],
    not_found: ['Not found', 'It no longer exists, or it is not yours.'],
    payload_too_large: ['The request is too large', ''],
    unsupported_media_type: ['Wrong content type', ''],
    method_not_allowed: ['Method not allowed', ''],
    internal: ['Something went wrong on the server', 'Try again; the server logged it.'],
    unavailable: ['The server cannot reach its store', 'Try again in a moment.'],
    network: ['Could not reach the server', 'Is it still running?'],
  };

  /** A readable error block for a failed call. */
  function errorBlock(r, lead) {
    const e = r.error || {};
    const [title, hint] = EXPLAIN[e.code] || [e.title || 'Error', ''];
    const block = h('div', { class: 'result error' });
    block.append(h('p', { class: 'result-title' }, lead ? `${lead}: ${title}` : title));
    if (e.code === 'rate_limited' && r.retryAfter) {
      const until = Date.now() + Number(r.retryAfter) * 1000;
      block.append(h('p', null, 'Try again in ', h('strong', { 'data-until': until }, duration(Number(r.retryAfter))),
        ` (Retry-After: ${r.retryAfter}\u00a0s).`));
    }
    if (hint) block.append(h('p', null, hint));
    const meta = [r.status ? `${r.status}` : null, e.code].filter(Boolean).join(' ');
    block.append(h('p', { class: 'meta' }, code(meta), e.detail ? ` ${e.detail}` : ''));
    return block;
  }

  /** A form sent without email or password: said here, without asking the server. */
  function missing(msgId, inputId) {
    show(msgId, h('div', { class: 'result error' }, h('p', { class: 'result-title' }, 'Enter an email and a password'),
      h('p', null, 'Both fields are needed.')));
    $(inputId).focus();
  }

  function okBlock(title, ...body) {
    return h('div', { class: 'result ok' }, h('p', { class: 'result-title' }, title), body);
  }

  function infoBlock(title, ...body) {
    return h('div', { class: 'result info' }, h('p', { class: 'result-title' }, title), body);
  }

  /** Runs an action with its button disabled and marked busy. */
  async function busy(button, fn) {
    if (button.disabled) return;
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    try {
      await fn();
    } finally {
      button.removeAttribute('aria-busy');
      button.disabled = false;
      refreshControls();
    }
    if (devicesDirty) {
      devicesDirty = false;
      // Keep a device list on screen true to what just happened.
      if ($('devices-table').querySelector('table')) await renderDevices();
    }
  }

  /** A one-line check: "GET /v1/me with the access token → 401 token_revoked". */
  function check(label, r) {
    const good = !r.ok;
    return h('li', { class: good ? 'check dead' : 'check alive' },
      h('span', { class: 'check-label' }, label), ' → ',
      code(r.ok ? `${r.status} OK: still works` : `${r.status} ${r.error.code}`));
  }

  // ---------------------------------------------------------------- state

  const session = {
    signedIn: false,
    csrf: null, // readable by this page, sent as X-CSRF-Token
    id: null, // the public handle, not the cookie secret
    user: null,
    record: null, // the item from /v1/sessions
    minted: null, // an access token from the session → JWT exchange
  };

  const jwt = {
    signedIn: false,
    access: null,
    refresh: null,
    decoded: null,
    receivedAt: 0,
    lifetime: 0, // seconds, exp - iat
    refreshExpiresIn: 0,
    previous: null, // the refresh token rotated out by the last refresh
    rotatedAt: 0,
    issued: 0, // refresh tokens this family has issued (the server keeps a hash of each)
    family: null, // the item from /v1/sessions
    accessRevoked: false,
  };

  let jwks = null;
  let measuring = false;
  /** A sign-in or sign-out happened: a device list on the page is out of date. */
  let devicesDirty = false;

  /** The cookie line the browser adds: the secret is 256 bits, 43 base64url characters. */
  const SESSION_SECRET_CHARS = 43;
  const COOKIE_LINE = `Cookie: tessera_session=${'x'.repeat(SESSION_SECRET_CHARS)}`;

  // ---------------------------------------------------------------- controls

  function refreshControls() {
    const s = session.signedIn;
    const j = jwt.signedIn;
    const idle = (id, enabled) => {
      const b = $(id);
      if (b.getAttribute('aria-busy') !== 'true') b.disabled = !enabled;
    };
    for (const id of ['session-server-reload', 'session-me', 'session-logout', 'session-exchange', 'session-csrf']) idle(id, s);
    for (const id of ['jwt-server-reload', 'jwt-me', 'jwt-logout', 'jwt-refresh', 'jwt-revoke-access']) idle(id, j);
    idle('jwt-replay', j && Boolean(jwt.previous));
    idle('devices-list', s || j);
    idle('logout-all', s || j);
    idle('measure', s && j && !measuring);

    const sBadge = $('session-state');
    sBadge.textContent = s ? 'Signed in' : session.endedBy || 'Signed out';
    sBadge.className = s ? 'badge on' : session.endedBy ? 'badge dead' : 'badge';
    $('session-column').classList.toggle('live', s);

    const jBadge = $('jwt-state');
    let jText = jwt.endedBy || 'Signed out';
    if (j) jText = jwt.accessRevoked ? 'Access token revoked' : expiresInSeconds() <= 0 ? 'Access token expired' : 'Signed in';
    jBadge.textContent = jText;
    jBadge.className = j ? (jText === 'Signed in' ? 'badge on' : 'badge warn') : jwt.endedBy ? 'badge dead' : 'badge';
    $('jwt-column').classList.toggle('live', j);
    renderComparison();
  }

  const expiresInSeconds = () => (jwt.access ? jwt.lifetime - (Date.now() - jwt.receivedAt) / 1000 : 0);

  /** Which credential calls the shared endpoints: the token when live (no CSRF needed), else the cookie. */
  function credential() {
    if (jwt.signedIn && !jwt.accessRevoked && expiresInSeconds() > 0) return { bearer: jwt.access, label: 'the access token' };
    if (session.signedIn) return { csrf: session.csrf, label: 'the session cookie' };
    return null;
  }

  // ---------------------------------------------------------------- account

  function fillLogins(email, password) {
    for (const side of ['session', 'jwt']) {
      $(`${side}-email`).value = email;
      $(`${side}-password`).value = password;
    }
  }

  async function register(ev) {
    ev.preventDefault();
    const button = ev.submitter || ev.target.querySelector('button');
    const email = $('register-email').value.trim();
    const password = $('register-password').value;
    if (!email || !password) {
      missing('register-msg', email ? 'register-password' : 'register-email');
      return;
    }
    await busy(button, async () => {
      const r = await api('POST', '/v1/users', { body: { email, password } });
      if (r.ok) {
        fillLogins(r.data.email, password);
        show('register-msg', okBlock(`Account created for ${r.data.email}`,
          h('p', null, 'User id ', code(r.data.id, 'token'), '. Both login forms below are filled in: log in on each side.')));
      } else {
        if (r.error.code === 'conflict') fillLogins(email, password);
        show('register-msg', errorBlock(r));
      }
    });
  }

  // ---------------------------------------------------------------- session column

  async function sessionLogin(ev) {
    ev.preventDefault();
    const button = ev.submitter || ev.target.querySelector('button');
    const email = $('session-email').value.trim();
    const password = $('session-password').value;
    if (!email || !password) {
      missing('session-login-msg', email ? 'session-password' : 'session-email');
      return;
    }
    await busy(button, async () => {
      const r = await api('POST', '/v1/session/login', { body: { email, password } });
      if (!r.ok) {
        show('session-login-msg', errorBlock(r, 'Login failed'));
        return;
      }
      Object.assign(session, {
        signedIn: true, endedBy: null, csrf: r.data.csrf_token, id: r.data.session.id, user: r.data.user, minted: null,
      });
      devicesDirty = true;
      show('session-login-msg', okBlock(`Signed in as ${r.data.user.email}`,
        h('p', null, 'The server set the cookie ', code('tessera_session'),
          ' (HttpOnly). The response body carries only the public handle and the CSRF token.')));
      clearColumnMessages('session');
      renderSessionClient();
      await loadSessionServer();
    });
  }

  async function loadSessionServer() {
    const r = await api('GET', '/v1/sessions');
    if (!r.ok) {
      if (r.status === 401) sessionEnded('Signed out');
      show('session-server', errorBlock(r));
      return;
    }
    const item = r.data.sessions.find((s) => s.kind === 'session' && s.current) || null;
    session.record = item;
    if (!item) {
      show('session-server', muted('The server lists no current session.'));
      return;
    }
    show('session-server',
      dl([
        ['Handle', code(item.id, 'token')],
        ['Kind', 'cookie session (one row in the sessions table)'],
        ['Created', when(item.created_at)],
        ['Last seen', when(item.last_seen_at)],
        ['Idle expiry', h('span', null, when(item.idle_expires_at), h('span', { class: 'note' }, 'slides with use'))],
        ['Absolute expiry', when(item.expires_at)],
        ['Device', item.user_agent || 'unknown'],
        ['Address', item.ip || 'unknown'],
      ]),
      h('p', { class: 'explain' }, 'Also stored: the SHA-256 of the cookie secret (32 bytes), never the secret. ',
        'Every request looks this record up, so logging out takes effect on the next request.'));
    refreshControls();
  }

  function renderSessionClient() {
    if (!session.signedIn) {
      show('session-client', muted('Nothing: no cookie, no CSRF token.'));
      return;
    }
    const cookieBytes = bytes(COOKIE_LINE);
    show('session-client',
      h('div', { class: 'held' },
        h('p', { class: 'held-title' }, 'Cookie ', code('tessera_session')),
        h('p', { class: 'sealed', id: 'session-cookie-note' }, "HttpOnly: this page's JavaScript cannot read it"),
        dl([
          ['document.cookie', code(JSON.stringify(document.cookie), 'token')],
          ['Flags', 'HttpOnly · SameSite=Lax · Path=/' + (location.protocol === 'https:' ? ' · Secure' : '')],
          ['Value', `a random 256-bit secret, ${SESSION_SECRET_CHARS} base64url characters`],
          ['On the wire', `${cookieBytes} bytes on every request (the browser adds it)`],
        ])),
      h('div', { class: 'held' },
        h('p', { class: 'held-title' }, 'CSRF token'),
        h('p', null, code(session.csrf, 'token'), ' ', h('span', { class: 'muted' }, `${bytes(session.csrf)} bytes`)),
        h('p', { class: 'explain' }, 'Readable by this page, unknown to other sites. Sent as ', code('X-CSRF-Token'),
          ' on every POST and DELETE, so a forged cross-site request fails even though the browser attaches the cookie.')));
  }

  async function sessionMe(ev) {
    await busy(ev.currentTarget, async () => {
      const r = await api('GET', '/v1/me');
      if (!r.ok && r.status === 401) sessionEnded('Signed out');
      show('session-me-msg', meResult(r, 'the session cookie'));
    });
  }

  /** The answer of /v1/me, with the mode it saw. */
  function meResult(r, sent) {
    if (!r.ok) return errorBlock(r, `GET /v1/me with ${sent}`);
    return okBlock(`200 OK in ${r.ms.toFixed(1)} ms`,
      dl([
        ['Mode', h('span', { class: `pill mode-${r.data.auth.mode}` }, `mode: ${r.data.auth.mode}`)],
        ['User', r.data.user.email],
        ['Expires', when(r.data.auth.expires_at)],
      ]));
  }

  async function sessionLogout(ev) {
    await busy(ev.currentTarget, async () => {
      const r = await api('POST', '/v1/session/logout', { csrf: session.csrf });
      if (!r.ok) {
        show('session-logout-msg', errorBlock(r, 'Logout failed'));
        return;
      }
      const after = await api('GET', '/v1/me');
      sessionEnded('Logged out');
      show('session-logout-msg', okBlock('Logged out',
        h('p', null, 'The server deleted the session record and cleared the cookie (Max-Age=0).'),
        h('ul', { class: 'checks' }, check('GET /v1/me with the cookie', after))));
    });
  }

  /** The session column falls: nothing held, nothing kept. */
  function sessionEnded(label) {
    Object.assign(session, { signedIn: false, endedBy: label, csrf: null, id: null, record: null, minted: null });
    devicesDirty = true;
    clearColumnMessages('session');
    show('session-login-msg');
    renderSessionClient();
    show('session-server', muted('Nothing: the session record is gone.'));
    refreshControls();
  }

  async function sessionExchange(ev) {
    await busy(ev.currentTarget, async () => {
      const r = await api('POST', '/v1/session/token', { csrf: session.csrf });
      if (!r.ok) {
        show('session-exchange-msg', errorBlock(r, 'Exchange failed'));
        return;
      }
      session.minted = r.data.access_token;
      const { header, claims } = decodeJwt(r.data.access_token);
      const me = await api('GET', '/v1/me', { bearer: r.data.access_token });
      show('session-exchange-msg', okBlock(`Minted an access token for ${span(r.data.expires_in)}`,
        h('p', null, 'Its ', code('sid'), ' claim is this session\'s handle',
          claims.sid === session.id ? ' (it matches step 2).' : '.'),
        h('pre', { class: 'json' }, JSON.stringify({ header, claims }, null, 2)),
        h('p', null, 'Called with it as Bearer, ', code('/v1/me'), ' answers:'),
        me.ok ? h('p', null, h('span', { class: `pill mode-${me.data.auth.mode}` }, `mode: ${me.data.auth.mode}`))
          : errorBlock(me)));
    });
  }

  async function sessionForgery(ev) {
    await busy(ev.currentTarget, async () => {
      const r = await api('POST', '/v1/session/logout');
      if (r.ok) {
        sessionEnded('Logged out');
        show('session-csrf-msg', infoBlock('Accepted', h('p', null, 'There was no live session to protect.')));
        return;
      }
      show('session-csrf-msg', errorBlock(r), h('p', { class: 'explain' }, 'The session is still alive: the forged request changed nothing.'));
    });
  }

  // ---------------------------------------------------------------- JWT column

  /** Takes a token response into memory. */
  function takeTokens(data) {
    const decoded = decodeJwt(data.access_token);
    Object.assign(jwt, {
      signedIn: true,
      endedBy: null,
      access: data.access_token,
      refresh: data.refresh_token,
      decoded,
      receivedAt: Date.now(),
      lifetime: data.expires_in,
      refreshExpiresIn: data.refresh_expires_in,
      accessRevoked: false,
    });
  }

  async function jwtLogin(ev) {
    ev.preventDefault();
    const button = ev.submitter || ev.target.querySelector('button');
    const email = $('jwt-email').value.trim();
    const password = $('jwt-password').value;
    if (!email || !password) {
      missing('jwt-login-msg', email ? 'jwt-password' : 'jwt-email');
      return;
    }
    await busy(button, async () => {
      const r = await api('POST', '/v1/token', { body: { grant_type: 'password', email, password, delivery: 'body' } });
      if (!r.ok) {
        show('jwt-login-msg', errorBlock(r, 'Login failed'));
        return;
      }
      takeTokens(r.data);
      Object.assign(jwt, { previous: null, rotatedAt: 0, issued: 1, family: null });
      devicesDirty = true;
      show('jwt-login-msg', okBlock(`Signed in as ${email.toLowerCase()}`,
        h('p', null, `An access token for ${span(r.data.expires_in)} and a refresh token for `,
          `${span(r.data.refresh_expires_in)}, both in the response body, now in this page's memory.`)));
      clearColumnMessages('jwt');
      renderJwtClient();
      await loadJwtServer();
    });
  }

  async function loadJwks() {
    if (jwks) return jwks;
    const r = await api('GET', '/.well-known/jwks.json');
    if (r.ok) jwks = r.data;
    return jwks;
  }

  async function loadJwtServer() {
    const [r, keys] = await Promise.all([api('GET', '/v1/sessions', { bearer: jwt.access }), loadJwks()]);
    if (!r.ok) {
      show('jwt-server', errorBlock(r, 'GET /v1/sessions with the access token'));
      return;
    }
    const sid = jwt.decoded && jwt.decoded.claims.sid;
    const item = r.data.sessions.find((s) => s.kind === 'token' && (s.current || s.id === sid)) || null;
    jwt.family = item;
    const kid = jwt.decoded && jwt.decoded.header.kid;
    const key = keys && Array.isArray(keys.keys) ? keys.keys.find((k) => k.kid === kid) : null;
    const keyText = key ? `${key.alg || jwt.decoded.header.alg} public key ${[key.kty, key.crv].filter(Boolean).join(' ')}` : 'public key';
    show('jwt-server',
      item ? dl([
        ['Family', code(item.id, 'token')],
        ['Kind', 'refresh-token family (one row, plus a hash per refresh token)'],
        ['Created', when(item.created_at)],
        ['Last refreshed', when(item.last_seen_at)],
        ['Refresh expiry', h('span', null, when(item.expires_at), h('span', { class: 'note' }, 'slides with every refresh'))],
        ['Refresh tokens', `${jwt.issued} issued so far: the server keeps the SHA-256 of each, to spot a replay`],
        ['Device', item.user_agent || 'unknown'],
        ['Address', item.ip || 'unknown'],
      ]) : muted('The server lists no refresh family for this token.'),
      h('p', { class: 'explain' }, 'The access token itself is stored nowhere. Any node checks its signature with the ',
        keyText, ' ', code(`kid ${short(kid)}`), ' published at ', code('/.well-known/jwks.json'),
        ', and its expiry; only revocations are kept, until the tokens they cover would expire.'));
    refreshControls();
  }

  function jwtPartsNode(parts) {
    return h('code', { class: 'token jwt-raw', id: 'jwt-access-token' },
      h('span', { class: 'jwt-h' }, parts[0]), '.', h('span', { class: 'jwt-p' }, parts[1]), '.', h('span', { class: 'jwt-s' }, parts[2]));
  }

  function renderJwtClient() {
    if (!jwt.signedIn) {
      show('jwt-client', muted('Nothing: the tokens are gone from memory.'));
      return;
    }
    const { parts, header, claims } = jwt.decoded;
    const size = bytes(jwt.access);
    const claimNotes = [
      ['sub', 'the user id'],
      ['sid', 'the refresh family: step 2'],
      ['jti', 'this token\'s own id, for revoking it alone'],
      ['iat', `issued at ${clock(claims.iat * 1000)}`],
      ['exp', `expires at ${clock(claims.exp * 1000)}`],
    ];
    show('jwt-client',
      h('div', { class: 'held' },
        h('p', { class: 'held-title' }, 'Access token (a JWT), in a JavaScript variable'),
        h('div', { class: 'countdown' },
          h('span', null, 'Expires in ', h('strong', { id: 'jwt-countdown' }, duration(expiresInSeconds()))),
          h('progress', { id: 'jwt-countdown-bar', max: jwt.lifetime, value: Math.max(0, expiresInSeconds()), 'aria-label': 'Access token lifetime left' })),
        jwtPartsNode(parts),
        h('p', { class: 'legend' },
          h('span', { class: 'jwt-h' }, `header ${parts[0].length}`), ' · ',
          h('span', { class: 'jwt-p' }, `claims ${parts[1].length}`), ' · ',
          h('span', { class: 'jwt-s' }, `signature ${parts[2].length}`), ' characters'),
        dl([
          ['Size', h('strong', { id: 'jwt-size' }, `${size} bytes`)],
          ['On the wire', `Authorization: Bearer … is ${bytes('Authorization: Bearer ') + size} bytes on every request`],
        ]),
        h('div', { class: 'decoded' },
          h('div', null, h('p', { class: 'sub-title' }, 'Header'), h('pre', { class: 'json', id: 'jwt-header' }, JSON.stringify(header, null, 2))),
          h('div', null, h('p', { class: 'sub-title' }, 'Claims'), h('pre', { class: 'json', id: 'jwt-claims' }, JSON.stringify(claims, null, 2)))),
        dl(claimNotes.filter(([k]) => k in claims).map(([k, v]) => [code(k), v]))),
      h('div', { class: 'held' },
        h('p', { class: 'held-title' }, 'Refresh token (opaque, single use)'),
        h('p', null, h('code', { class: 'token', id: 'jwt-refresh-token' }, jwt.refresh), ' ',
          h('span', { class: 'muted' }, `${bytes(jwt.refresh)} bytes, good for ${span(jwt.refreshExpiresIn)}`)),
        h('p', { class: 'explain' }, 'Sent only to ', code('POST /v1/token'), '. Both tokens are readable by this page, so a script injected into it could steal them: the price of showing them. Kept in memory, never in localStorage: a reload forgets them.')));
  }

  async function jwtMe(ev) {
    await busy(ev.currentTarget, async () => {
      const r = await api('GET', '/v1/me', { bearer: jwt.access });
      show('jwt-me-msg', meResult(r, 'the access token'));
    });
  }

  async function jwtRevoke(ev) {
    await busy(ev.currentTarget, async () => {
      const r = await api('POST', '/v1/token/revoke', { body: { token: jwt.refresh, token_type_hint: 'refresh_token' } });
      if (!r.ok) {
        show('jwt-logout-msg', errorBlock(r, 'Revoke failed'));
        return;
      }
      const [me, again] = await Promise.all([
        api('GET', '/v1/me', { bearer: jwt.access }),
        api('POST', '/v1/token', { body: { grant_type: 'refresh_token', refresh_token: jwt.refresh } }),
      ]);
      jwtEnded('Revoked');
      show('jwt-logout-msg', okBlock('Revoked: the family is dead',
        h('ul', { class: 'checks' },
          check('GET /v1/me with the access token', me),
          check('POST /v1/token with the refresh token', again))));
    });
  }

  /** The JWT column falls: the page drops the tokens. */
  function jwtEnded(label) {
    devicesDirty = true;
    clearColumnMessages('jwt');
    show('jwt-login-msg');
    Object.assign(jwt, { signedIn: false, endedBy: label, access: null, refresh: null, decoded: null, previous: null, family: null, accessRevoked: false });
    renderJwtClient();
    show('jwt-server', muted('Nothing live: the family is revoked (its row stays until it would have expired, so its tokens are recognised and refused).'));
    $('jwt-replay-age').textContent = 'Log in and refresh first: there is no previous refresh token.';
    refreshControls();
  }

  async function jwtRefresh(ev) {
    await busy(ev.currentTarget, async () => {
      const before = { refresh: jwt.refresh, jti: jwt.decoded.claims.jti };
      const r = await api('POST', '/v1/token', { body: { grant_type: 'refresh_token', refresh_token: jwt.refresh } });
      if (!r.ok) {
        if (r.status === 401) jwtEnded(r.error.code === 'refresh_reused' ? 'Family revoked' : 'Signed out');
        show('jwt-refresh-msg', errorBlock(r, 'Refresh failed'));
        return;
      }
      takeTokens(r.data);
      const rotated = r.data.refresh_token !== before.refresh;
      if (rotated) {
        jwt.previous = before.refresh;
        jwt.rotatedAt = Date.now();
        jwt.issued += 1;
      }
      show('jwt-refresh-msg', okBlock(rotated ? 'Rotated: a new pair' : 'Refreshed',
        dl([
          ['Refresh token', h('span', null, code(short(before.refresh), 'fp'), ' → ', code(short(jwt.refresh), 'fp'))],
          ['Access jti', h('span', null, code(short(before.jti), 'fp'), ' → ', code(short(jwt.decoded.claims.jti), 'fp'))],
          ['Old refresh token', rotated ? 'rotated out: single use, now a tripwire' : 'still current'],
        ])));
      renderJwtClient();
      updateReplayAge();
      await loadJwtServer();
    });
  }

  function updateReplayAge() {
    const el = $('jwt-replay-age');
    if (!jwt.signedIn || !jwt.previous) return;
    const age = Math.floor((Date.now() - jwt.rotatedAt) / 1000);
    el.replaceChildren('Previous refresh token ', code(short(jwt.previous), 'fp'), ` rotated out ${age} s ago.`);
  }

  async function jwtReplay(ev) {
    await busy(ev.currentTarget, async () => {
      const age = Math.floor((Date.now() - jwt.rotatedAt) / 1000);
      const r = await api('POST', '/v1/token', { body: { grant_type: 'refresh_token', refresh_token: jwt.previous } });
      if (r.ok) {
        const same = r.data.refresh_token === jwt.refresh;
        takeTokens(r.data);
        renderJwtClient();
        show('jwt-replay-msg', infoBlock(`Within the grace (${age} s after the rotation): treated as a racing tab`,
          h('p', null, same ? 'The server answered with the same successor refresh token, and a fresh access token: concurrent clients converge. Wait past the grace and try again.'
            : 'The server answered with a new pair.')));
        return;
      }
      if (r.error.code !== 'refresh_reused') {
        show('jwt-replay-msg', errorBlock(r, 'Replay'));
        return;
      }
      const [again, me] = await Promise.all([
        api('POST', '/v1/token', { body: { grant_type: 'refresh_token', refresh_token: jwt.refresh } }),
        api('GET', '/v1/me', { bearer: jwt.access }),
      ]);
      jwtEnded('Family revoked');
      show('jwt-replay-msg',
        errorBlock(r, `Replayed ${age} s after the rotation`),
        h('div', { class: 'result dead-family' },
          h('p', { class: 'result-title' }, 'The family is dead: even the newest tokens are refused'),
          h('ul', { class: 'checks' },
            check('POST /v1/token with the newest refresh token', again),
            check('GET /v1/me with the newest access token', me)),
          h('p', null, 'A thief holding the old token and the user holding the new one are both out; the user logs in again.')));
    });
  }

  async function jwtRevokeAccess(ev) {
    await busy(ev.currentTarget, async () => {
      const r = await api('POST', '/v1/token/revoke', { body: { token: jwt.access, token_type_hint: 'access_token' } });
      if (!r.ok) {
        show('jwt-revoke-access-msg', errorBlock(r, 'Revoke failed'));
        return;
      }
      jwt.accessRevoked = true;
      const me = await api('GET', '/v1/me', { bearer: jwt.access });
      show('jwt-revoke-access-msg', okBlock('The access token is denied',
        h('ul', { class: 'checks' }, check('GET /v1/me with it', me)),
        h('p', null, 'Its signature is still valid; the deny list refuses its ', code('jti'),
          ` until it would have expired. The refresh token still works: Refresh for a new access token.`)));
      refreshControls();
    });
  }

  // ---------------------------------------------------------------- devices and log out everywhere

  async function listDevices(ev) {
    await busy(ev.currentTarget, renderDevices);
  }

  async function renderDevices() {
    const cred = credential();
    if (!cred) {
      show('devices-table', muted('Log in on either side first.'));
      return;
    }
    const r = await api('GET', '/v1/sessions', { bearer: cred.bearer });
    if (!r.ok) {
      show('devices-table', errorBlock(r, `GET /v1/sessions with ${cred.label}`));
      return;
    }
    const mine = (d) => {
      if (d.kind === 'session' && d.id === session.id) return 'the Session column';
      if (d.kind === 'token' && jwt.decoded && d.id === jwt.decoded.claims.sid) return 'the JWT column';
      return null;
    };
    if (r.data.sessions.length === 0) {
      show('devices-table', muted('No devices: nobody is signed in as this user.'));
      return;
    }
    const rows = r.data.sessions.map((d) => {
      const owner = mine(d);
      return h('tr', null,
        h('td', { 'data-label': 'Kind' }, h('span', null, d.kind === 'session' ? 'Cookie session' : 'Token family',
          owner ? h('span', { class: 'here' }, owner) : null)),
        h('td', { 'data-label': 'Handle' }, code(short(d.id), 'token')),
        h('td', { 'data-label': 'Signed in' }, when(d.created_at)),
        h('td', { 'data-label': 'Expires' }, when(d.kind === 'session' ? minIso(d.idle_expires_at, d.expires_at) : d.expires_at)),
        h('td', { 'data-label': 'Device' }, h('span', { class: 'ua' }, `${d.user_agent ? browserName(d.user_agent) : 'unknown'} · ${d.ip || '?'}`)),
        h('td', { class: 'row-action' }, h('button', {
          type: 'button', class: 'small', 'aria-label': `Revoke ${d.kind === 'session' ? 'cookie session' : 'token family'} ${short(d.id)}`,
          onclick: (e) => busy(e.currentTarget, () => revokeDevice(d)),
        }, 'Revoke')));
    });
    show('devices-table', h('table', { class: 'devices' },
      h('caption', null, `${r.data.sessions.length} signed-in device${r.data.sessions.length === 1 ? '' : 's'}, listed with ${cred.label}`),
      h('thead', null, h('tr', null, ['Kind', 'Handle', 'Signed in', 'Expires', 'Device', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, rows)));
  }

  const minIso = (a, b) => (Date.parse(a) < Date.parse(b) ? a : b);

  function browserName(ua) {
    const m = ua.match(/(HeadlessChrome|Chrome|Firefox|Safari|Edg|curl|node)\/[\d.]+/);
    return m ? m[0].replace(/\.[\d.]+$/, '') : ua.slice(0, 40);
  }

  async function revokeDevice(d) {
    const cred = credential();
    if (!cred) return;
    const r = await api('DELETE', `/v1/sessions/${encodeURIComponent(d.id)}`, cred);
    if (!r.ok) {
      show('devices-msg', errorBlock(r, 'Revoke failed'));
      return;
    }
    const checks = [];
    if (d.kind === 'session' && d.id === session.id) {
      checks.push(check('GET /v1/me with the session cookie', await api('GET', '/v1/me')));
      sessionEnded('Revoked');
    }
    if (d.kind === 'token' && jwt.decoded && d.id === jwt.decoded.claims.sid) {
      checks.push(check('GET /v1/me with the access token', await api('GET', '/v1/me', { bearer: jwt.access })));
      jwtEnded('Revoked');
    }
    show('devices-msg', okBlock(`Revoked ${d.kind === 'session' ? 'the cookie session' : 'the token family'} ${short(d.id)}`,
      checks.length ? h('ul', { class: 'checks' }, checks) : null));
    devicesDirty = false;
    if (credential()) await renderDevices();
    else show('devices-table', muted('No credential left on this page to list with.'));
  }

  async function logoutAll(ev) {
    await busy(ev.currentTarget, async () => {
      const cred = credential();
      if (!cred) return;
      const r = await api('POST', '/v1/logout-all', cred);
      if (!r.ok) {
        show('devices-msg', errorBlock(r, 'Log out everywhere failed'));
        return;
      }
      const checks = [];
      const hadSession = session.signedIn;
      const hadJwt = jwt.signedIn;
      if (hadSession) {
        const me = await api('GET', '/v1/me');
        checks.push(check('Session: GET /v1/me with the cookie', me));
        if (!me.ok) {
          sessionEnded('Logged out everywhere');
          show('session-logout-msg', errorBlock(me, 'Ended by “Log out everywhere”'));
        }
      }
      if (hadJwt) {
        const access = jwt.access;
        const refresh = jwt.refresh;
        const [me, again] = await Promise.all([
          api('GET', '/v1/me', { bearer: access }),
          api('POST', '/v1/token', { body: { grant_type: 'refresh_token', refresh_token: refresh } }),
        ]);
        checks.push(check('JWT: GET /v1/me with the access token', me), check('JWT: POST /v1/token with the refresh token', again));
        if (!me.ok && !again.ok) {
          jwtEnded('Logged out everywhere');
          show('jwt-logout-msg', errorBlock(me, 'Ended by “Log out everywhere”'));
        }
      }
      show('devices-msg', okBlock(`Logged out everywhere (called with ${cred.label})`,
        h('p', null, 'Every session, every refresh family, and every access token issued before now: revoked on every node within a second.'),
        h('ul', { class: 'checks' }, checks)));
      show('devices-table', muted('No devices left.'));
      devicesDirty = false;
    });
  }

  // ---------------------------------------------------------------- comparison

  function bar(label, value, max, unit, cls) {
    return h('div', { class: `bar-row ${cls}` },
      h('span', { class: 'bar-label' }, label),
      h('progress', { max: Math.max(max, 1), value, 'aria-hidden': 'true' }),
      h('span', { class: 'bar-value' }, `${value} ${unit}`));
  }

  function renderComparison() {
    if (measuring) return;
    const cookie = bytes(COOKIE_LINE);
    const csrf = session.csrf ? bytes(`X-CSRF-Token: ${session.csrf}`) : null;
    const bearerLine = jwt.access ? bytes(`Authorization: Bearer ${jwt.access}`) : null;
    if (session.signedIn || jwt.signedIn) {
      const max = Math.max(cookie, bearerLine || 0);
      show('cmp-sent',
        session.signedIn ? bar('Session', cookie, max, 'bytes', 'session') : null,
        jwt.signedIn ? bar('JWT', bearerLine, max, 'bytes', 'jwt') : null,
        h('p', { class: 'explain' }, 'The credential on each request: ', code('Cookie: tessera_session=…'),
          ` (a ${SESSION_SECRET_CHARS}-character secret)`, session.signedIn && csrf ? `, plus ${csrf} bytes of X-CSRF-Token on POST and DELETE` : '',
          ', versus ', code('Authorization: Bearer …'), ' with the whole signed token.',
          bearerLine && session.signedIn ? ` The JWT is ${(bearerLine / cookie).toFixed(1)}× larger.` : ''));
    } else {
      show('cmp-sent', muted('Log in on either side to compare.'));
    }

    // Payload bytes of the rows in Tessera's schema: ids are 36-character UUID text, times and
    // counters 8-byte integers, hashes 32 bytes; indexes and page overhead not counted.
    const deviceBytes = (d) => (d ? bytes(d.user_agent || '') + bytes(d.ip || '') : 0);
    const sessionRow = session.record ? 36 + 36 + 32 + 4 * 8 + deviceBytes(session.record) : null;
    const familyRow = jwt.family ? 36 + 36 + 8 + 5 * 8 + deviceBytes(jwt.family) : null;
    const perToken = 32 + 36 + 8;
    const family = familyRow !== null ? familyRow + perToken * jwt.issued : null;
    if (sessionRow !== null || family !== null) {
      const max = Math.max(sessionRow || 0, family || 0);
      show('cmp-stored',
        sessionRow !== null ? bar('Session', sessionRow, max, 'bytes', 'session') : null,
        family !== null ? bar('JWT', family, max, 'bytes', 'jwt') : null,
        h('p', { class: 'explain' },
          sessionRow !== null ? `Session: one row (handle, user, SHA-256 of the secret, four times, device), read on every request. ` : '',
          family !== null ? `JWT: 0 bytes per access token; the refresh family is one row plus ${perToken} bytes per refresh token issued (${jwt.issued} so far), read only at refresh. A revoked access token adds a deny-list entry until it expires. ` : '',
          'Payload bytes of the rows in Tessera\'s schema, before indexes.'));
    } else {
      show('cmp-stored', muted('Log in on either side to compare.'));
    }
  }

  const CALLS = 200;

  async function measure(ev) {
    await busy(ev.currentTarget, async () => {
      measuring = true;
      const progress = h('progress', { max: CALLS * 2, value: 0, 'aria-label': 'Calls made' });
      show('cmp-rtt', h('p', null, 'Measuring…'), progress);
      const result = {};
      try {
        for (const [mode, opts] of [['session', {}], ['jwt', { bearer: jwt.access }]]) {
          const times = [];
          for (let i = 0; i < CALLS; i += 1) {
            const r = await api('GET', '/v1/me', opts);
            if (!r.ok) {
              show('measure-msg', errorBlock(r, `${mode} call ${i + 1}`));
              show('cmp-rtt', muted('Measurement stopped.'));
              return;
            }
            times.push(r.ms);
            progress.value = Number(progress.value) + 1;
          }
          times.sort((a, b) => a - b);
          result[mode] = {
            median: times[Math.floor(times.length / 2)],
            p95: times[Math.floor(times.length * 0.95)],
            mean: times.reduce((a, b) => a + b, 0) / times.length,
          };
        }
      } finally {
        measuring = false;
      }
      const row = (name, m) => h('tr', null, h('th', { scope: 'row' }, name),
        ...['median', 'p95', 'mean'].map((k) => h('td', null, `${m[k].toFixed(2)} ms`)));
      show('cmp-rtt',
        h('table', { class: 'rtt', id: 'rtt-table' },
          h('caption', null, `${CALLS} sequential calls each`),
          h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Mode'), ['median', 'p95', 'mean'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', null, row('Session', result.session), row('JWT', result.jwt))),
        h('p', { class: 'explain' }, 'Measured here, so mostly the browser and HTTP: the session is looked up in a per-node cache (≤ 1 s old), the JWT checked by its signature with no lookup.'));
      show('measure-msg');
      renderComparison();
    });
  }

  // ---------------------------------------------------------------- ticking clocks

  function tick() {
    for (const el of document.querySelectorAll('[data-until]')) {
      const left = (Number(el.getAttribute('data-until')) - Date.now()) / 1000;
      el.textContent = left > 0 ? duration(left) : 'now';
    }
    if (jwt.signedIn) {
      const left = expiresInSeconds();
      const text = $('jwt-countdown');
      const barEl = $('jwt-countdown-bar');
      if (text) text.textContent = left > 0 ? duration(left) : 'expired';
      if (barEl) barEl.value = Math.max(0, left);
      const badge = $('jwt-state');
      if (left <= 0 && badge.textContent === 'Signed in') refreshControls();
      updateReplayAge();
    }
  }

  function clearColumnMessages(side) {
    const ids = side === 'session'
      ? ['session-me-msg', 'session-logout-msg', 'session-exchange-msg', 'session-csrf-msg']
      : ['jwt-me-msg', 'jwt-logout-msg', 'jwt-refresh-msg', 'jwt-replay-msg', 'jwt-revoke-access-msg'];
    for (const id of ids) show(id);
  }

  // ---------------------------------------------------------------- start

  /** A session cookie survives a reload: pick the session back up if there is one. */
  async function resume() {
    const r = await api('GET', '/v1/session');
    if (!r.ok) return;
    Object.assign(session, { signedIn: true, endedBy: null, csrf: r.data.csrf_token, id: r.data.session.id, user: r.data.user });
    $('session-email').value = r.data.user.email;
    show('session-login-msg', infoBlock(`Still signed in as ${r.data.user.email}`,
      h('p', null, 'The page was reloaded and the browser still sent the cookie. A JWT kept in memory would be gone.')));
    renderSessionClient();
    await loadSessionServer();
    refreshControls();
  }

  $('register-form').addEventListener('submit', register);
  $('session-login-form').addEventListener('submit', sessionLogin);
  $('jwt-login-form').addEventListener('submit', jwtLogin);
  $('session-server-reload').addEventListener('click', (e) => busy(e.currentTarget, loadSessionServer));
  $('session-me').addEventListener('click', sessionMe);
  $('session-logout').addEventListener('click', sessionLogout);
  $('session-exchange').addEventListener('click', sessionExchange);
  $('session-csrf').addEventListener('click', sessionForgery);
  $('jwt-server-reload').addEventListener('click', (e) => busy(e.currentTarget, loadJwtServer));
  $('jwt-me').addEventListener('click', jwtMe);
  $('jwt-logout').addEventListener('click', jwtRevoke);
  $('jwt-refresh').addEventListener('click', jwtRefresh);
  $('jwt-replay').addEventListener('click', jwtReplay);
  $('jwt-revoke-access').addEventListener('click', jwtRevokeAccess);
  $('devices-list').addEventListener('click', listDevices);
  $('logout-all').addEventListener('click', logoutAll);
  $('measure').addEventListener('click', measure);
  setInterval(tick, 1000);
  refreshControls();
  resume();
})();
