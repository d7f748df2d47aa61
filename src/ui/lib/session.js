// Browser sessions.
// - dev mode: a pasted dev token, kept in sessionStorage["procella.token"], sent as `Authorization: token <t>`.
// - descope mode: the Descope session JWT that @descope/web-component persists in localStorage["DS"] (refresh JWT
//   in "DSR"), sent as `Authorization: Bearer <jwt>`. Nothing rides on cookies, so there is no CSRF surface.

export const DEV_TOKEN_KEY = 'procella.token';
export const SESSION_KEY = 'DS';
export const REFRESH_KEY = 'DSR';

// Treat a JWT as expired a little early so a request does not race its expiry.
const EXPIRY_MARGIN_S = 10;

function storageGet(store, key) {
  try {
    return store.getItem(key);
  } catch {
    return null;
  }
}

function storageSet(store, key, value) {
  try {
    if (value == null) store.removeItem(key);
    else store.setItem(key, value);
  } catch {
    /* storage disabled: the session lasts for this page only */
  }
}

/** The payload of a JWT, or null if it is not one. The signature is the server's business. */
export function jwtPayload(token) {
  if (typeof token !== 'string') return null;
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    const payload = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
    return payload && typeof payload === 'object' ? payload : null;
  } catch {
    return null;
  }
}

export function jwtUsable(token, nowS = Date.now() / 1000) {
  const p = jwtPayload(token);
  return !!p && typeof p.exp === 'number' && p.exp > nowS + EXPIRY_MARGIN_S;
}

export function devToken() {
  return storageGet(sessionStorage, DEV_TOKEN_KEY) || null;
}

export function setDevToken(token) {
  storageSet(sessionStorage, DEV_TOKEN_KEY, token);
}

export function descopeSession() {
  const t = storageGet(localStorage, SESSION_KEY);
  return jwtUsable(t) ? t : null;
}

export function setDescopeSession(sessionJwt, refreshJwt) {
  if (sessionJwt) storageSet(localStorage, SESSION_KEY, sessionJwt);
  if (refreshJwt) storageSet(localStorage, REFRESH_KEY, refreshJwt);
}

function trimSlash(url) {
  return String(url || '').replace(/\/+$/, '');
}

export function descopeBase(cfg) {
  return trimSlash(cfg.descopeBaseUrl || 'https://api.descope.com');
}

/** Uses a still-valid refresh JWT to get a new session JWT (Descope `POST /v1/auth/refresh`). */
async function refreshDescope(cfg) {
  const refresh = storageGet(localStorage, REFRESH_KEY);
  if (!cfg.projectId || !jwtUsable(refresh)) return null;
  try {
    const res = await fetch(`${descopeBase(cfg)}/v1/auth/refresh`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${cfg.projectId}:${refresh}`, 'Content-Type': 'application/json' },
      body: '{}',
      credentials: 'omit',
    });
    if (!res.ok) return null;
    const body = await res.json();
    if (!jwtUsable(body.sessionJwt)) return null;
    setDescopeSession(body.sessionJwt, body.refreshJwt);
    return body.sessionJwt;
  } catch {
    return null;
  }
}

/** The current session token, refreshing a Descope session if it can; null when the user must sign in. */
export async function currentToken(cfg) {
  if (cfg.mode === 'descope') return descopeSession() || (await refreshDescope(cfg));
  return devToken();
}

/** The Authorization header value for a token in this mode. */
export function authorization(cfg, token) {
  return cfg.mode === 'descope' ? `Bearer ${token}` : `token ${token}`;
}

/** Forgets every session this app or the Descope component keeps. */
export function clearSession() {
  storageSet(sessionStorage, DEV_TOKEN_KEY, null);
  storageSet(localStorage, SESSION_KEY, null);
  storageSet(localStorage, REFRESH_KEY, null);
}

/** Signs out: revokes the Descope refresh token (best effort), clears storage, reloads the page. */
export function signOut(cfg) {
  const refresh = storageGet(localStorage, REFRESH_KEY);
  if (cfg.mode === 'descope' && cfg.projectId && refresh) {
    try {
      fetch(`${descopeBase(cfg)}/v1/auth/logout`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${cfg.projectId}:${refresh}`, 'Content-Type': 'application/json' },
        body: '{}',
        credentials: 'omit',
        keepalive: true,
      }).catch(() => {});
    } catch {
      /* ignore */
    }
  }
  clearSession();
  location.reload();
}
