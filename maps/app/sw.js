// The worker app's service worker (scope /app/): the shell, the app's files and the vendor
// files it uses are precached under a versioned name, so the app opens with no network after
// the first visit; the last answer of the task list is kept for reading offline. Writes are not
// touched here: the app's outbox (IndexedDB) keeps and resends them.
const VERSION = '{{version}}';
const PRECACHE = '{{precache}}';
const SHELL = `wangge-app-${VERSION}`;
const DATA = 'wangge-app-data';
const TASKS = '/api/v1/tasks';

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(SHELL).then((cache) => cache.addAll(PRECACHE)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith('wangge-app-') && n !== SHELL && n !== DATA).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

// Network first; offline, the kept answer, marked as such.
async function tasks(request) {
  const cache = await caches.open(DATA);
  const key = new URL(TASKS, self.location.origin).href; // whatever the position it was asked from
  try {
    const answer = await fetch(request);
    if (answer.ok) await cache.put(key, answer.clone());
    return answer;
  } catch (exc) {
    const kept = await cache.match(key);
    if (!kept) throw exc;
    const headers = new Headers(kept.headers);
    headers.set('X-Wangge-Offline', '1');
    return new Response(await kept.blob(), { status: 200, headers });
  }
}

// The app's files: from the cache (they change only with VERSION), else the network.
async function shell(request, url) {
  const cache = await caches.open(SHELL);
  // Every client route is the same shell.
  const isPage = request.mode === 'navigate' && url.pathname.startsWith('/app/');
  const kept = await cache.match(isPage ? '/app/' : request, { ignoreSearch: isPage });
  if (kept) return kept;
  return fetch(request);
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname === TASKS) return event.respondWith(tasks(request));
  if (url.pathname.startsWith('/app/') || url.pathname.startsWith('/static/vendor/')) {
    event.respondWith(shell(request, url));
  }
});
