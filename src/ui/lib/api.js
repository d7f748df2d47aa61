// JSON calls to the Procella API with the browser session. Errors carry the API's message.
import { authorization } from './session.js';

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v != null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** fetch + JSON with `Authorization`; throws ApiError on a non-2xx answer. */
export async function apiFetch(cfg, token, path, { method = 'GET', params, body } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = authorization(cfg, token);
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path + query(params), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, `Network error: ${e.message || e}`);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const message = (data && typeof data.message === 'string' && data.message)
      || (text && !data && text.length < 500 ? text : '')
      || `${res.status} ${res.statusText || 'error'}`;
    throw new ApiError(res.status, message, data && data.code);
  }
  return data;
}

/**
 * Reads a server-sent event stream with the session's `Authorization` (which EventSource cannot send): calls
 * `onEvent(name, data)` for each event, and `onEvent('open')` for the comment the server opens with. Resolves when
 * the stream ends.
 */
export async function apiStream(cfg, token, path, onEvent) {
  const headers = { Accept: 'text/event-stream' };
  if (token) headers.Authorization = authorization(cfg, token);
  let res;
  try {
    res = await fetch(path, { headers, credentials: 'omit', cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, `Network error: ${e.message || e}`);
  }
  if (!res.ok || !res.body) {
    let data = null;
    try { data = await res.json(); } catch { data = null; }
    throw new ApiError(res.status, (data && data.message) || `${res.status} ${res.statusText || 'error'}`, data && data.code);
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let at;
    while ((at = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, at);
      buf = buf.slice(at + 2);
      if (frame.startsWith(':')) {
        onEvent('open', null);
        continue;
      }
      let name = 'message';
      let data = '';
      for (const line of frame.split('\n')) {
        if (line.startsWith('event: ')) name = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      onEvent(name, data);
    }
  }
}

/** An API client bound to a session. */
export function client(cfg, token) {
  return {
    get: (path, params) => apiFetch(cfg, token, path, { params }),
    post: (path, body) => apiFetch(cfg, token, path, { method: 'POST', body }),
    put: (path, body) => apiFetch(cfg, token, path, { method: 'PUT', body }),
    del: (path) => apiFetch(cfg, token, path, { method: 'DELETE' }),
    stream: (path, onEvent) => apiStream(cfg, token, path, onEvent),
  };
}
