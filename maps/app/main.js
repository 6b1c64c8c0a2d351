// The app's start: words, who is signed in, the service worker, the outbox, a patrol that was
// running, and the router that shows a screen for each address under /app/ without reloading
// the page.
import { whoAmI } from './auth.js';
import { chooseLang, loadWords, setLang } from './i18n.js';
import { patrolSettings } from './map.js';
import * as outbox from './outbox.js';
import * as patrol from './patrol.js';
import * as screens from './screens.js';

const routes = [
  [/^\/app\/?$/, () => screens.tasks()],
  [/^\/app\/tasks\/(\d+)$/, (m) => screens.task(Number(m[1]))],
  [/^\/app\/report$/, () => screens.report()],
  [/^\/app\/patrol$/, () => screens.patrolScreen()],
  [/^\/app\/outbox$/, () => screens.outboxScreen()],
];

async function render() {
  document.documentElement.dataset.ready = '0';
  const path = location.pathname;
  for (const a of document.querySelectorAll('.tabs a')) {
    const here = a.pathname === path || (a.pathname === '/app/' && path.startsWith('/app/tasks'));
    if (here) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const route = routes.find(([re]) => re.test(path));
  try {
    await (route ? route[1](path.match(route[0])) : screens.notFound());
  } finally {
    document.documentElement.dataset.ready = '1';
  }
}

export function go(url) {
  history.pushState(null, '', url);
  window.scrollTo(0, 0);
  return render().then(() => document.getElementById('main').focus({ preventScroll: true }));
}

document.addEventListener('click', (event) => {
  const a = event.target.closest('a[data-nav]');
  if (!a || event.ctrlKey || event.metaKey || event.shiftKey || a.origin !== location.origin) return;
  event.preventDefault();
  go(a.pathname + a.search);
});
addEventListener('popstate', render);

async function badge() {
  const n = (await outbox.entries()).length;
  const el = document.getElementById('outbox-count');
  el.textContent = String(n);
  el.hidden = n === 0;
}

// While a patrol records where the worker is, every screen says so.
function recording() {
  document.getElementById('recording').hidden = !patrol.recording();
}

function network() {
  document.getElementById('offline').hidden = navigator.onLine;
}

// Once the service worker controls the page, the app opens without a network.
function serviceWorker() {
  const sw = navigator.serviceWorker;
  const mark = () => { document.documentElement.dataset.offlineReady = '1'; };
  if (sw.controller) mark();
  else sw.addEventListener('controllerchange', mark, { once: true });
  sw.register('/app/sw.js', { scope: '/app/' }).catch(() => {});
}

async function boot() {
  const lang = chooseLang();
  await loadWords();
  const other = lang === 'en' ? 'zh' : 'en';
  const button = document.getElementById('lang');
  // Named in the language it switches to, so that its speech matches its text.
  button.textContent = other === 'en' ? 'English' : '中文';
  button.setAttribute('lang', other === 'en' ? 'en' : 'zh-CN');
  button.addEventListener('click', () => setLang(other));
  if ('serviceWorker' in navigator) serviceWorker();
  addEventListener('online', network);
  addEventListener('offline', network);
  network();
  outbox.events.addEventListener('change', badge);
  const me = await whoAmI();
  document.getElementById('tab-patrol').hidden = !(me && patrolSettings().roles.includes(me.role));
  patrol.events.addEventListener('change', recording);
  patrol.resume(me?.username ?? null);
  recording();
  badge();
  outbox.start();
  await render();
}

boot();
