// Rendering of Pulumi property values. Secrets are never shown: a secret arrives as an object carrying the
// signature key below (or, in API v9 form, `{isSecret: true, ...}`), and is replaced by "[secret]" wherever it
// appears, however deep.

export const SECRET_SIG = '4dabf18193072939515e22adb298388d';
export const SECRET_TEXT = '[secret]';

export function isSecret(v) {
  return !!v && typeof v === 'object' && !Array.isArray(v) && (Object.prototype.hasOwnProperty.call(v, SECRET_SIG) || v.isSecret === true);
}

export function redact(v) {
  if (isSecret(v)) return SECRET_TEXT;
  if (Array.isArray(v)) return v.map(redact);
  if (v && typeof v === 'object') {
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k] = redact(x);
    return out;
  }
  return v;
}

/** One-line text for a value: strings as they are, other values as JSON, secrets masked. */
export function valueText(v) {
  const r = redact(v);
  if (typeof r === 'string') return r;
  if (r === undefined) return '';
  return JSON.stringify(r);
}

/** The resource name: the last `::` segment of its URN. */
export function urnName(urn) {
  const s = String(urn || '');
  const i = s.lastIndexOf('::');
  return i >= 0 ? s.slice(i + 2) : s;
}

const OPS = ['create', 'update', 'replace', 'delete', 'same', 'read', 'refresh', 'import', 'discard', 'remove-pending-replace'];

/** [[op, count]] in a stable order, zero counts left out. */
export function changeList(changes) {
  if (!changes || typeof changes !== 'object') return [];
  const entries = Object.entries(changes).filter(([, n]) => Number(n) > 0);
  const rank = (op) => {
    const i = OPS.indexOf(op);
    return i < 0 ? OPS.length : i;
  };
  return entries.sort((a, b) => rank(a[0]) - rank(b[0]) || (a[0] < b[0] ? -1 : 1));
}

export function changeText(changes) {
  return changeList(changes).map(([op, n]) => `${op} ${n}`).join(', ');
}
