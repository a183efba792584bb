// An OpenID Connect provider for the tests and for `make run`, built on oidc-provider.
//
//   node tests/idp/server.mjs CONFIG.json
//
// Everything comes from the JSON config the Python harness (tests/harness/idp.py) writes:
// port, users and their groups, clients, token lifetimes, cookie keys and the admin secret.
// It behaves like a site SSO: a real login form, authorization code flow with PKCE (S256)
// only, refresh tokens with rotation, RS256-signed JWT access tokens that reva's oidc auth
// manager verifies through discovery and the JWKS, and RP-initiated logout.
//
// Routes of its own, next to the provider's:
//   GET  /interaction/:uid          login form, or automatic consent for configured clients
//   POST /interaction/:uid/login    checks the password
//   GET  /userinfo                  claims for a JWT access token (the provider's own userinfo
//                                   endpoint refuses access tokens issued for a resource)
//   GET  /admin/stats               token grant counts (x-admin-secret header)
//   POST /admin/stats/reset         zero the counts
//   POST /admin/rotate-key          new signing key, old one kept in the JWKS
//   POST /admin/clients             register one more client
//   PUT  /admin/users/:name         change a user's groups, or disable them (a disabled user
//                                   cannot log in, and their refresh tokens are refused)
//
// Logs one line per event to stdout; never a token, code, password or secret.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import process from 'node:process';

import Provider from 'oidc-provider';

const ADMIN = '/admin';
const USERINFO = '/userinfo';
const MAX_BODY = 64 * 1024;

// -- configuration --------------------------------------------------------------------------

function loadConfig(path) {
  if (!path) {
    throw new Error('usage: node server.mjs CONFIG.json');
  }
  const raw = JSON.parse(fs.readFileSync(path, 'utf8'));
  const need = (key) => {
    if (raw[key] === undefined || raw[key] === null || raw[key] === '') {
      throw new Error(`config ${path}: "${key}" is required`);
    }
    return raw[key];
  };
  const port = Number(need('port'));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new Error(`config ${path}: "port" must be a TCP port`);
  }
  const host = raw.host || '127.0.0.1';
  const ttl = { ...(raw.ttl || {}) };
  const positive = (name, fallback) => {
    const value = ttl[name] === undefined ? fallback : Number(ttl[name]);
    if (!Number.isInteger(value) || value <= 0) {
      throw new Error(`config ${path}: ttl.${name} must be a positive whole number of seconds`);
    }
    return value;
  };
  return {
    host,
    port,
    issuer: raw.issuer || `http://${host}:${port}`,
    adminSecret: need('admin_secret'),
    cookieKeys: need('cookie_keys'),
    resource: raw.resource || 'urn:cs3:reva',
    scopes: raw.scopes || ['openid', 'offline_access', 'profile', 'email', 'groups'],
    ttl: {
      accessToken: positive('access_token', 60),
      idToken: positive('id_token', 3600),
      refreshToken: positive('refresh_token', 3600),
      session: positive('session', 8 * 3600),
      grant: positive('grant', 24 * 3600),
      interaction: positive('interaction', 600),
      authorizationCode: positive('authorization_code', 60),
    },
    users: need('users'),
    clients: raw.clients || [],
  };
}

// -- logging --------------------------------------------------------------------------------

function quote(value) {
  const text = String(value);
  return /^[\w.:/@+-]*$/.test(text) && text !== '' ? text : JSON.stringify(text);
}

function log(event, fields = {}) {
  const parts = [new Date().toISOString(), 'idp', event];
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined && value !== null) {
      parts.push(`${key}=${quote(value)}`);
    }
  }
  process.stdout.write(`${parts.join(' ')}\n`);
}

// -- small helpers --------------------------------------------------------------------------

function sameSecret(given, expected) {
  // Hash both sides so that the comparison takes the same time whatever the lengths.
  const a = crypto.createHash('sha256').update(String(given ?? '')).digest();
  const b = crypto.createHash('sha256').update(String(expected)).digest();
  return crypto.timingSafeEqual(a, b) && given !== undefined && given !== null;
}

function html(text) {
  return String(text)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

function send(res, status, body, type = 'text/html; charset=utf-8', headers = {}) {
  const payload = Buffer.from(body);
  res.writeHead(status, {
    'content-type': type,
    'content-length': payload.length,
    'cache-control': 'no-store',
    'x-frame-options': 'DENY',
    ...headers,
  });
  res.end(payload);
}

function sendJson(res, status, value, headers = {}) {
  send(res, status, `${JSON.stringify(value)}\n`, 'application/json', headers);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(Object.assign(new Error('request body too large'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${html(title)}</title>
<style>
body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0}
main{max-width:22rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:6px;box-shadow:0 1px 4px rgba(0,0,0,.15)}
h1{font-size:1.4rem;margin-top:0}label{display:block;margin:.8rem 0 .2rem}
input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}
button{margin-top:1.2rem;width:100%;padding:.6rem;font-size:1rem;background:#1f6feb;color:#fff;border:0;border-radius:4px;cursor:pointer}
.error{color:#b00020;background:#fdecee;padding:.6rem;border-radius:4px}
.muted{color:#666;font-size:.9rem}
</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

// -- signing keys ---------------------------------------------------------------------------

function newSigningKey(serial) {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  const kid = `rs256-${serial}-${crypto.randomBytes(6).toString('hex')}`;
  return { ...jwk, kid, alg: 'RS256', use: 'sig' };
}

function publicPart(jwk) {
  const { kty, n, e, kid, alg, use } = jwk;
  return { kty, n, e, kid, alg, use };
}

// -- storage shared by every Provider instance ---------------------------------------------
//
// Key rotation builds a new Provider; sessions, interactions, grants and refresh tokens live
// here so they survive it. Entries expire by their own lifetime (never evicted for space).

const store = new Map();
const grantMembers = new Map();

function sweep() {
  const now = Date.now();
  for (const [key, entry] of store) {
    if (entry.expiresAt !== undefined && entry.expiresAt <= now) {
      store.delete(key);
    }
  }
  for (const [grantId, keys] of grantMembers) {
    for (const key of keys) {
      if (!store.has(key)) keys.delete(key);
    }
    if (keys.size === 0) grantMembers.delete(grantId);
  }
}

function storeGet(key) {
  const entry = store.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
    store.delete(key);
    return undefined;
  }
  return entry.value;
}

function storeSet(key, value, expiresIn) {
  const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : undefined;
  store.set(key, { value, expiresAt });
}

class SharedMemoryAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    storeSet(key, structuredClone(payload), expiresIn);
    if (payload.grantId) {
      if (!grantMembers.has(payload.grantId)) grantMembers.set(payload.grantId, new Set());
      grantMembers.get(payload.grantId).add(key);
    }
    if (payload.uid && this.model === 'Session') {
      storeSet(`sessionUid:${payload.uid}`, id, expiresIn);
    }
    if (payload.userCode) {
      storeSet(`userCode:${payload.userCode}`, id, expiresIn);
    }
  }

  async find(id) {
    const value = storeGet(this.key(id));
    return value === undefined ? undefined : structuredClone(value);
  }

  async findByUid(uid) {
    const id = storeGet(`sessionUid:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = storeGet(`userCode:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const entry = store.get(this.key(id));
    if (entry) entry.value.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const key of grantMembers.get(grantId) || []) {
      store.delete(key);
    }
    grantMembers.delete(grantId);
  }
}

// -- statistics -----------------------------------------------------------------------------

const MAX_TIMES = 1000;

function emptyStats() {
  return {
    since: Date.now() / 1000,
    grants: {},
    grant_times: {},
    grant_errors: {},
    logins: { ok: {}, failed: {} },
    logouts: 0,
  };
}

let stats = emptyStats();

function bump(table, outer, inner) {
  table[outer] ||= {};
  table[outer][inner] = (table[outer][inner] || 0) + 1;
}

function recordGrant(grantType, account) {
  bump(stats.grants, grantType, account);
  stats.grant_times[grantType] ||= {};
  const times = (stats.grant_times[grantType][account] ||= []);
  times.push(Date.now() / 1000);
  if (times.length > MAX_TIMES) times.splice(0, times.length - MAX_TIMES);
}

// -- the provider ---------------------------------------------------------------------------

const config = loadConfig(process.argv[2]);
const users = new Map(config.users.map((user) => [user.username, user]));

// Users the provider knows and has not disabled: the others have no account, so their logins
// and refresh tokens are refused (oidc-provider fails a refresh_token grant whose account
// findAccount does not return), as a site SSO does for a user who left.
function activeUser(username) {
  const user = users.get(username);
  return user && !user.disabled ? user : undefined;
}
let clients = config.clients.map(normaliseClient);
let keys = [newSigningKey(1)];
let current;

function normaliseClient(client) {
  if (!client.client_id || !client.client_secret) {
    throw new Error('every client needs client_id and client_secret');
  }
  if (!Array.isArray(client.redirect_uris) || client.redirect_uris.length === 0) {
    throw new Error(`client ${client.client_id}: redirect_uris must be a non-empty list`);
  }
  if (client.access_token_ttl !== undefined
      && !(Number.isInteger(client.access_token_ttl) && client.access_token_ttl > 0)) {
    throw new Error(`client ${client.client_id}: access_token_ttl must be a positive whole number`);
  }
  return {
    client_id: String(client.client_id),
    client_secret: String(client.client_secret),
    redirect_uris: client.redirect_uris.map(String),
    post_logout_redirect_uris: (client.post_logout_redirect_uris || []).map(String),
    access_token_ttl: client.access_token_ttl,
  };
}

function accessTokenTtl(clientId) {
  const client = clients.find((c) => c.client_id === clientId);
  return client?.access_token_ttl || config.ttl.accessToken;
}

function accountClaims(username) {
  const user = users.get(username);
  return {
    sub: user.username,
    name: user.name || user.username,
    preferred_username: user.username,
    email: user.email,
    email_verified: Boolean(user.email),
    groups: [...(user.groups || [])],
  };
}

function providerConfiguration() {
  const { ttl } = config;
  return {
    adapter: SharedMemoryAdapter,
    clients: clients.map((c) => ({
      client_id: c.client_id,
      client_secret: c.client_secret,
      redirect_uris: c.redirect_uris,
      post_logout_redirect_uris: c.post_logout_redirect_uris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    responseTypes: ['code'],
    pkce: { required: () => true },
    jwks: { keys },
    cookies: { keys: config.cookieKeys },
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    scopes: config.scopes,
    // ID tokens carry every claim the scopes grant: clients need not call userinfo.
    conformIdTokenClaims: false,
    enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
    discovery: {
      claim_types_supported: ['normal'],
      userinfo_endpoint: `${config.issuer}${USERINFO}`,
    },
    async findAccount(_ctx, sub) {
      if (!activeUser(sub)) return undefined;
      return {
        accountId: sub,
        async claims() {
          return accountClaims(sub);
        },
      };
    },
    async extraTokenClaims(_ctx, token) {
      if (token.kind !== 'AccessToken' || !activeUser(token.accountId)) return undefined;
      const claims = accountClaims(token.accountId);
      return { preferred_username: claims.preferred_username, groups: claims.groups };
    },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    ttl: {
      AccessToken: (_ctx, _token, client) => accessTokenTtl(client?.clientId),
      AuthorizationCode: ttl.authorizationCode,
      IdToken: ttl.idToken,
      RefreshToken: ttl.refreshToken,
      Session: ttl.session,
      Grant: ttl.grant,
      Interaction: ttl.interaction,
    },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: false },
      revocation: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource,
        postLogoutSuccessSource,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => config.resource,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resourceIndicator, client) => {
          if (resourceIndicator !== config.resource) {
            throw new Provider.errors.InvalidTarget();
          }
          return {
            scope: config.scopes.join(' '),
            audience: config.resource,
            accessTokenTTL: accessTokenTtl(client?.clientId),
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    renderError,
  };
}

async function logoutSource(ctx, form) {
  // Confirm at once: the form the provider generated (with its xsrf token) is submitted by
  // a script; the button is there for browsers without JavaScript.
  ctx.type = 'html';
  ctx.body = page('Signing out', `<h1>Signing out</h1>
${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>
<script>
var form = document.getElementById('op.logoutForm');
var input = document.createElement('input');
input.type = 'hidden'; input.name = 'logout'; input.value = 'yes';
form.appendChild(input);
form.submit();
</script>`);
}

async function postLogoutSuccessSource(ctx) {
  ctx.type = 'html';
  ctx.body = page('Signed out', '<h1>Signed out</h1><p>You have been signed out.</p>');
}

async function renderError(ctx, out) {
  ctx.type = 'html';
  const rows = Object.entries(out)
    .map(([key, value]) => `<p><strong>${html(key)}</strong>: ${html(value)}</p>`)
    .join('\n');
  ctx.body = page('Sign-in error', `<h1>Sign-in error</h1>\n${rows}`);
}

function accountOf(ctx) {
  const { entities } = ctx.oidc;
  return entities.Account?.accountId
    || entities.AccessToken?.accountId
    || entities.RefreshToken?.accountId
    || entities.AuthorizationCode?.accountId;
}

function buildProvider() {
  const provider = new Provider(config.issuer, providerConfiguration());
  provider.on('grant.success', (ctx) => {
    const grantType = ctx.oidc.params.grant_type;
    const account = accountOf(ctx) || '-';
    recordGrant(grantType, account);
    log('token.grant', {
      grant_type: grantType,
      account,
      client: ctx.oidc.client?.clientId,
      kid: keys[0].kid,
      expires_in: ctx.oidc.entities.AccessToken?.expiration,
    });
  });
  provider.on('grant.error', (ctx, err) => {
    // error_detail is the provider's own reason ("refresh token already used", "grant not
    // found"...): fixed texts, never a token value.
    const grantType = ctx.oidc.params?.grant_type || '-';
    const reason = err.error_detail || err.error_description || err.error || err.name;
    bump(stats.grant_errors, grantType, reason);
    log('token.error', {
      grant_type: grantType,
      account: accountOf(ctx),
      client: ctx.oidc.client?.clientId,
      error: err.error || err.name,
      detail: reason,
    });
  });
  provider.on('grant.revoked', (ctx) => {
    log('grant.revoked', { client: ctx.oidc.client?.clientId, route: ctx.oidc.route });
  });
  provider.on('authorization.error', (ctx, err) => {
    log('authorization.error', {
      client: ctx.oidc.client?.clientId,
      error: err.error || err.name,
      detail: err.error_detail || err.error_description,
    });
  });
  provider.on('authorization.success', (ctx) => {
    log('authorization.success', { client: ctx.oidc.client?.clientId, account: ctx.oidc.session?.accountId });
  });
  provider.on('end_session.success', (ctx) => {
    stats.logouts += 1;
    log('logout', { client: ctx.oidc.client?.clientId });
  });
  provider.on('end_session.error', (ctx, err) => {
    log('logout.error', { error: err.error || err.name, description: err.error_description });
  });
  provider.on('revocation.error', (ctx, err) => {
    log('revocation.error', { error: err.error || err.name, description: err.error_description });
  });
  provider.on('server_error', (ctx, err) => {
    log('server_error', { route: ctx.oidc?.route, error: err.message });
  });
  return { provider, handle: provider.callback() };
}

// -- our own routes -------------------------------------------------------------------------

function loginPage(uid, details, { login = '', error = '' } = {}) {
  const client = details.params.client_id;
  const errorHtml = error ? `<p class="error" role="alert">${html(error)}</p>` : '';
  return page('Sign in', `<h1>Sign in</h1>
<p class="muted">to continue to ${html(client)}</p>
${errorHtml}
<form method="post" action="/interaction/${html(uid)}/login" autocomplete="off">
<label for="login">Username</label>
<input id="login" name="login" value="${html(login)}" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" required>
<button type="submit">Sign in</button>
</form>`);
}

async function interactionDetails(req, res, uid) {
  try {
    const details = await current.provider.interactionDetails(req, res);
    if (details.uid !== uid) {
      throw new Error('interaction mismatch');
    }
    return details;
  } catch (err) {
    log('interaction.error', { error: err.error || err.name, description: err.error_description || err.message });
    send(res, 400, page('Sign-in error', `<h1>Sign-in error</h1>
<p>This sign-in attempt expired or is unknown. Go back to the application and start again.</p>`));
    return undefined;
  }
}

async function grantConsent(req, res, details) {
  // Every client of this provider is first-party: consent is given for it, never asked.
  const { prompt: { details: missing }, params, session } = details;
  const { Grant } = current.provider;
  let grant;
  if (details.grantId) {
    grant = await Grant.find(details.grantId);
  }
  grant ||= new Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  log('consent', { account: session.accountId, client: params.client_id });
  await current.provider.interactionFinished(req, res, { consent: { grantId } }, {
    mergeWithLastSubmission: true,
  });
}

async function interactionRoute(req, res, url) {
  const match = /^\/interaction\/([\w-]+)(\/login)?$/.exec(url.pathname);
  if (!match) {
    send(res, 404, page('Not found', '<h1>Not found</h1>'));
    return;
  }
  const [, uid, login] = match;
  if (!login && req.method === 'GET') {
    const details = await interactionDetails(req, res, uid);
    if (!details) return;
    if (details.prompt.name === 'login') {
      send(res, 200, loginPage(uid, details, { login: details.params.login_hint || '' }));
    } else if (details.prompt.name === 'consent') {
      await grantConsent(req, res, details);
    } else {
      send(res, 400, page('Sign-in error', '<h1>Sign-in error</h1><p>Unsupported prompt.</p>'));
    }
    return;
  }
  if (login && req.method === 'POST') {
    const details = await interactionDetails(req, res, uid);
    if (!details) return;
    if (details.prompt.name !== 'login') {
      send(res, 400, page('Sign-in error', '<h1>Sign-in error</h1><p>No sign-in is pending.</p>'));
      return;
    }
    const form = new URLSearchParams(await readBody(req));
    const username = (form.get('login') || '').trim().slice(0, 64);
    const password = form.get('password') || '';
    const user = activeUser(username);
    // Compare against something even for unknown users, so both fail alike.
    const ok = sameSecret(password, user ? user.password : crypto.randomBytes(16).toString('hex'))
      && user !== undefined;
    if (!ok) {
      bump(stats.logins, 'failed', username || '-');
      log('login.failed', { user: username || '-', client: details.params.client_id });
      send(res, 401, loginPage(uid, details, { login: username, error: 'Invalid username or password' }));
      return;
    }
    bump(stats.logins, 'ok', username);
    log('login.ok', { user: username, client: details.params.client_id });
    await current.provider.interactionFinished(req, res, {
      login: { accountId: username, amr: ['pwd'] },
    }, { mergeWithLastSubmission: false });
    return;
  }
  send(res, 405, page('Not allowed', '<h1>Method not allowed</h1>'), undefined, { allow: login ? 'POST' : 'GET' });
}

function verifyAccessToken(token) {
  // A JWT access token of ours: signed by one of our keys, our issuer, not expired.
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  let header;
  let payload;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (header.alg !== 'RS256') return undefined;
  const jwk = keys.find((k) => k.kid === header.kid);
  if (!jwk) return undefined;
  const key = crypto.createPublicKey({ key: publicPart(jwk), format: 'jwk' });
  const valid = crypto.verify(
    'RSA-SHA256',
    Buffer.from(`${parts[0]}.${parts[1]}`),
    key,
    Buffer.from(parts[2], 'base64url'),
  );
  if (!valid) return undefined;
  if (payload.iss !== config.issuer) return undefined;
  if (typeof payload.exp !== 'number' || payload.exp <= Date.now() / 1000) return undefined;
  if (!activeUser(payload.sub)) return undefined;
  return payload;
}

async function userinfoRoute(req, res) {
  const auth = req.headers.authorization || '';
  const match = /^Bearer\s+(\S+)$/i.exec(auth);
  const payload = match ? verifyAccessToken(match[1]) : undefined;
  if (!payload) {
    log('userinfo.error', { error: 'invalid_token' });
    sendJson(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
    return;
  }
  const scopes = new Set(String(payload.scope || '').split(' '));
  const all = accountClaims(payload.sub);
  const claims = { sub: all.sub };
  if (scopes.has('profile')) Object.assign(claims, { name: all.name, preferred_username: all.preferred_username });
  if (scopes.has('email')) Object.assign(claims, { email: all.email, email_verified: all.email_verified });
  if (scopes.has('groups')) claims.groups = all.groups;
  sendJson(res, 200, claims);
}

function rotateKey() {
  const key = newSigningKey(keys.length + 1);
  keys = [key, ...keys];
  current = buildProvider();
  log('key.rotated', { kid: key.kid, keys: keys.length });
  return { kid: key.kid, kids: keys.map((k) => k.kid) };
}

function updateUser(username, change) {
  // Tests change what the provider says about a user while the hub holds their tokens:
  // the next refresh brings the new groups, or is refused for a disabled user.
  const user = users.get(username);
  if (!user) return { status: 404, body: { error: 'no_such_user' } };
  if (change === null || typeof change !== 'object' || Array.isArray(change)) {
    return { status: 400, body: { error: 'a JSON object is expected' } };
  }
  const { groups, disabled } = change;
  if (groups !== undefined && !(Array.isArray(groups) && groups.every((g) => typeof g === 'string'))) {
    return { status: 400, body: { error: 'groups must be a list of strings' } };
  }
  if (disabled !== undefined && typeof disabled !== 'boolean') {
    return { status: 400, body: { error: 'disabled must be true or false' } };
  }
  if (groups !== undefined) user.groups = [...groups];
  if (disabled !== undefined) user.disabled = disabled;
  log('user.updated', { user: username, groups: (user.groups || []).join(','), disabled: Boolean(user.disabled) });
  return {
    status: 200,
    body: { username, groups: [...(user.groups || [])], disabled: Boolean(user.disabled) },
  };
}

async function adminRoute(req, res, url) {
  if (!sameSecret(req.headers['x-admin-secret'], config.adminSecret)) {
    log('admin.denied', { path: url.pathname });
    sendJson(res, 403, { error: 'forbidden' });
    return;
  }
  const route = `${req.method} ${url.pathname.slice(ADMIN.length)}`;
  switch (route) {
    case 'GET /stats':
      sendJson(res, 200, {
        ...stats,
        active_kid: keys[0].kid,
        kids: keys.map((k) => k.kid),
        clients: clients.map((c) => c.client_id),
      });
      return;
    case 'POST /stats/reset':
      stats = emptyStats();
      log('stats.reset');
      sendJson(res, 200, { ok: true });
      return;
    case 'POST /rotate-key':
      sendJson(res, 200, rotateKey());
      return;
    case 'POST /clients': {
      const client = normaliseClient(JSON.parse(await readBody(req)));
      clients = [...clients.filter((c) => c.client_id !== client.client_id), client];
      current = buildProvider();
      log('client.added', { client: client.client_id });
      sendJson(res, 200, { client_id: client.client_id });
      return;
    }
    default: {
      const user = /^PUT \/users\/([\w.@-]+)$/.exec(route);
      if (user) {
        let change;
        try {
          change = JSON.parse(await readBody(req));
        } catch (err) {
          if (err.status) throw err;
          sendJson(res, 400, { error: 'the body is not JSON' });
          return;
        }
        const { status, body } = updateUser(user[1], change);
        sendJson(res, status, body);
        return;
      }
      sendJson(res, 404, { error: 'not_found' });
    }
  }
}

async function route(req, res) {
  const url = new URL(req.url, config.issuer);
  if (url.pathname.startsWith('/interaction/')) {
    await interactionRoute(req, res, url);
  } else if (url.pathname === USERINFO && (req.method === 'GET' || req.method === 'POST')) {
    await userinfoRoute(req, res);
  } else if (url.pathname === ADMIN || url.pathname.startsWith(`${ADMIN}/`)) {
    await adminRoute(req, res, url);
  } else if (url.pathname === '/healthz') {
    sendJson(res, 200, { ok: true });
  } else {
    current.handle(req, res);
  }
}

// -- start and stop -------------------------------------------------------------------------

current = buildProvider();

const server = http.createServer((req, res) => {
  route(req, res).catch((err) => {
    log('error', { path: req.url?.split('?')[0], error: err.message });
    if (!res.headersSent) {
      sendJson(res, err.status || 500, { error: err.status === 413 ? 'too_large' : 'server_error' });
    } else {
      res.destroy();
    }
  });
});
server.keepAliveTimeout = 5000;

server.on('error', (err) => {
  if (err.code === 'EADDRINUSE') {
    log('fatal', { error: `address already in use: ${config.host}:${config.port}` });
  } else {
    log('fatal', { error: err.message });
  }
  process.exit(1);
});

const sweeper = setInterval(sweep, 30_000);
sweeper.unref();

server.listen(config.port, config.host, () => {
  log('listening', {
    issuer: config.issuer,
    kid: keys[0].kid,
    clients: clients.map((c) => c.client_id).join(','),
    access_token_ttl: config.ttl.accessToken,
    refresh_token_ttl: config.ttl.refreshToken,
  });
});

let stopping = false;
function stop(signal) {
  if (stopping) return;
  stopping = true;
  log('stopping', { signal });
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
