// Everything about signing in, in one module: who I am (GET /api/v1/auth/me), the CSRF token
// every write made with the session cookie sends, the sign-in page and signing out.
const ME = 'wangge-me';
let me = null;

function cookie(name) {
  const found = document.cookie.split('; ').find((c) => c.startsWith(`${name}=`));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : null;
}

export function csrfToken() {
  return cookie('wangge_csrf') || me?.csrf_token || null;
}

// Headers a request needs: the CSRF token on writes (read fresh: the session may be renewed).
export function authHeaders(method) {
  return method === 'GET' || !csrfToken() ? {} : { 'X-CSRF-Token': csrfToken() };
}

// Who is signed in: null when nobody is. Offline, the last answer (kept without its token).
export async function whoAmI() {
  try {
    const r = await fetch('/api/v1/auth/me', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    if (r.status === 401 || r.status === 404) {
      localStorage.removeItem(ME);
      me = null;
      return null;
    }
    if (!r.ok) throw new Error(String(r.status));
    me = await r.json();
    const { csrf_token: _drop, ...kept } = me;
    localStorage.setItem(ME, JSON.stringify(kept));
    return me;
  } catch {
    const kept = localStorage.getItem(ME);
    me = kept ? JSON.parse(kept) : null;
    return me;
  }
}

export const signedIn = () => me;

export function signInUrl(next = location.pathname + location.search) {
  return `/login?next=${encodeURIComponent(next)}`;
}

export async function signOut() {
  try {
    await fetch('/api/v1/auth/logout', { method: 'POST', credentials: 'same-origin', headers: authHeaders('POST') });
  } finally {
    // The kept task list holds this user's data: it goes with them.
    if ('caches' in self) await caches.delete('wangge-app-data');
    localStorage.removeItem(ME);
    me = null;
    location.assign(signInUrl('/app/'));
  }
}
