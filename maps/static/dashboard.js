// The dashboard (/dashboard): the indicators of a period, asked from /api/v1/stats/indicators
// with the visitor's own sign-in, shown as figures, a map of grids, charts, a ranking and lists.
// Every figure opens the incidents behind it (/api/v1/stats/indicators/incidents).
// The period, the indicator and the switches live in the address, so a link keeps them.
import { Chart } from './dashboard-charts.js';
import { GridMap } from './dashboard-map.js';

const cfg = JSON.parse(document.getElementById('wangge-dashboard').textContent);
const W = cfg.words;
const EN = cfg.lang === 'en';
const API = '/api/v1/stats/indicators';
const $ = (id) => document.getElementById(id);
const root = document.documentElement;
const KPIS = ['reports', 'registered', 'closed', 'close_rate', 'close_on_time_rate', 'handle_on_time_rate', 'overdue', 'supervised', 'score', 'grade'];
const RANKING = ['reports', 'registered', 'closed', 'close_on_time_rate', 'overdue'];
const NO_INCIDENTS = new Set(['score', 'grade']); // figures with no incidents behind them
const PANEL_LIMIT = 200;

// The trend by month first: a year's weeks are 53 periods to count, its months 12.
const state = { start: '', end: '', indicator: 'reports', interval: 'month', ranking: 'grid' };
let meta = {}; // indicator key -> {label, unit}
let answers = {};
let pending = 0;
let showAll = false;

// ------------------------------------------------------------------ small things

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== null && v !== undefined && v !== false) el.setAttribute(k, v);
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined).map((c) => (c instanceof Node ? c : String(c))));
  return el;
}

const fill = (text, values) => text.replace(/\{(\w+)\}/g, (_, k) => values[k] ?? '');

export function format(value, unit) {
  if (value === null || value === undefined || value === '') return '—';
  if (typeof value !== 'number') return String(value);
  if (unit === 'rate') return `${(value * 100).toFixed(1)}%`;
  if (unit === 'count') return Math.round(value).toLocaleString(EN ? 'en' : 'zh-CN');
  return value.toFixed(1);
}

const label = (key) => meta[key]?.label ?? key;
const unitOf = (key) => meta[key]?.unit ?? 'count';

function busy(n) {
  pending += n;
  root.dataset.wanggePending = String(pending);
}

async function getJson(url) {
  busy(1);
  try {
    const r = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    const body = await r.json().catch(() => null);
    if (!r.ok) {
      const detail = body && typeof body.detail === 'string' ? body.detail : `HTTP ${r.status}`;
      throw new Error(detail);
    }
    return body;
  } finally {
    busy(-1);
  }
}

function message(text) {
  $('message').textContent = text || '';
  $('message').hidden = !text;
}

// ------------------------------------------------------------------ the period, in China time

const DAY = 86_400_000;
const chinaDate = (date) => new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(date);
const parse = (ymd) => new Date(`${ymd}T00:00:00Z`);
const ymd = (date) => date.toISOString().slice(0, 10);

function preset(name) {
  const today = parse(chinaDate(new Date()));
  const y = today.getUTCFullYear();
  const m = today.getUTCMonth();
  if (name === 'week') {
    const monday = new Date(today - ((today.getUTCDay() + 6) % 7) * DAY);
    return [ymd(monday), ymd(new Date(+monday + 7 * DAY))];
  }
  if (name === 'month') return [ymd(new Date(Date.UTC(y, m, 1))), ymd(new Date(Date.UTC(y, m + 1, 1)))];
  if (name === 'quarter') {
    const q = m - (m % 3);
    return [ymd(new Date(Date.UTC(y, q, 1))), ymd(new Date(Date.UTC(y, q + 3, 1)))];
  }
  return [ymd(new Date(Date.UTC(y, 0, 1))), ymd(new Date(Date.UTC(y + 1, 0, 1)))];
}

function periodQuery(extra = {}) {
  const params = new URLSearchParams({ start: state.start, end: state.end });
  for (const [k, v] of Object.entries(extra)) if (v !== null && v !== undefined) params.set(k, v);
  return params.toString();
}

// The preset whose period is shown, pressed.
function pressPreset() {
  for (const b of document.querySelectorAll('[data-preset]')) {
    const [start, end] = preset(b.dataset.preset);
    b.setAttribute('aria-pressed', String(start === state.start && end === state.end));
  }
}

function keepInAddress() {
  pressPreset();
  const params = new URLSearchParams(location.search);
  for (const k of ['start', 'end', 'indicator', 'interval', 'ranking']) params.set(k, state[k]);
  history.replaceState(null, '', `${location.pathname}?${params}`);
  const other = new URLSearchParams(params);
  other.set('lang', EN ? 'zh' : 'en');
  $('lang').href = `${location.pathname}?${other}`;
}

// ------------------------------------------------------------------ the incidents behind a figure

async function openIncidents({ by = 'none', key = null, indicator, start = state.start, end = state.end, title }) {
  const panel = $('panel');
  panel.hidden = false;
  panel.dataset.loaded = '0';
  $('panel-title').textContent = title;
  $('panel-count').textContent = W.loading;
  $('panel-count').hidden = false;
  $('panel-list').replaceChildren();
  const params = new URLSearchParams({ start, end, by, indicator, limit: String(PANEL_LIMIT) });
  if (key !== null) params.set('key', key);
  try {
    const answer = await getJson(`${API}/incidents?${params}`);
    const shown = answer.incidents.length;
    $('panel-title').textContent = fill(W.incidents_of, { figure: title, n: answer.total });
    $('panel-count').textContent = shown < answer.total ? fill(W.shown_of, { shown, n: answer.total }) : '';
    $('panel-count').hidden = !$('panel-count').textContent;
    $('panel-list').replaceChildren(...incidentItems(answer.incidents));
  } catch (exc) {
    $('panel-count').textContent = `${W.load_failed}: ${exc.message}`;
    $('panel-count').hidden = false;
  }
  panel.dataset.loaded = '1';
  $('panel-close').focus();
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString(EN ? 'en-GB' : 'zh-CN', { timeZone: 'Asia/Shanghai', dateStyle: 'short', timeStyle: 'short' }) : '';
}

function incidentItems(incidents) {
  if (!incidents.length) return [h('li', { class: 'muted' }, W.none_found)];
  return incidents.map((i) =>
    h(
      'li',
      { 'data-id': i.id },
      h('a', { href: `/app/tasks/${i.id}${EN ? '?lang=en' : ''}` }, h('code', {}, i.code || `#${i.id}`), ' ', i.title || ''),
      h(
        'small',
        {},
        [cfg.kinds[i.kind] || i.kind, cfg.categories[i.category] || i.category, i.status_label || cfg.statuses?.[i.kind]?.[i.status] || i.status, dash.map.names.get(i.grid) || i.grid, when(i.at)]
          .filter(Boolean)
          .join(' · '),
      ),
    ),
  );
}

// A figure that opens its incidents: a button holding the value.
function figure(value, indicator, by, key, title) {
  const text = format(value, unitOf(indicator));
  if (NO_INCIDENTS.has(indicator) || value === null || value === undefined) return h('span', {}, text);
  const button = h('button', { type: 'button', class: 'cell', 'data-by': by, 'data-key': key, 'data-indicator': indicator }, text);
  button.addEventListener('click', () => openIncidents({ by, key, indicator, title }));
  return button;
}

// ------------------------------------------------------------------ the parts of the page

function drawKpis(total) {
  const cards = KPIS.filter((k) => k in meta).map((k) => {
    const value = total ? total[k] : null;
    const shown = k === 'grade' ? h('span', { class: `grade grade-${value}` }, value ?? '—') : figure(value, k, 'none', null, label(k));
    return h('div', { class: 'kpi', 'data-indicator': k }, h('span', { class: 'kpi-label' }, label(k)), h('span', { class: 'kpi-value' }, shown));
  });
  $('kpis').replaceChildren(...cards);
}

function sortedRows(rows) {
  return [...rows].sort((a, b) => (b.score ?? -1) - (a.score ?? -1) || String(a.name).localeCompare(String(b.name)));
}

function drawRanking() {
  const by = state.ranking;
  const rows = sortedRows(answers[by]?.rows ?? []);
  const columns = [...RANKING, ...(RANKING.includes(state.indicator) || NO_INCIDENTS.has(state.indicator) ? [] : [state.indicator]), 'score', 'grade'].filter((k) => k in meta);
  const head = h('tr', {}, h('th', {}, W.rank), h('th', {}, W.name), columns.map((k) => h('th', { scope: 'col' }, label(k))));
  const shown = showAll ? rows : rows.slice(0, 50);
  const body = shown.map((row, i) =>
    h(
      'tr',
      { 'data-key': row.key },
      h('td', {}, i + 1),
      h('th', { scope: 'row' }, row.name || row.key),
      columns.map((k) =>
        h('td', {}, k === 'grade' ? h('span', { class: `grade grade-${row.grade}` }, row.grade ?? '—') : figure(row[k], k, by, row.key, `${row.name || row.key} · ${label(k)}`)),
      ),
    ),
  );
  const table = h('table', {}, h('thead', {}, head), h('tbody', {}, body));
  const more = rows.length > shown.length ? h('button', { type: 'button', class: 'more' }, `+ ${rows.length - shown.length}`) : null;
  more?.addEventListener('click', () => {
    showAll = true;
    drawRanking();
  });
  $('ranking-table').replaceChildren(table, more ?? '');
  $('exports').replaceChildren(...exportLinks(by));
}

function exportLinks(by) {
  return ['csv', 'xlsx'].map((f) => h('a', { href: `${API}?${periodQuery({ by, f, lang: EN ? 'en' : null })}`, download: '', class: `export-${f}` }, f.toUpperCase()));
}

function drawMap() {
  const m = meta[state.indicator];
  dash.map.show(answers.grid?.rows ?? [], state.indicator, m ? { label: m.label, unit: m.unit } : null);
}

function periodLabel(p) {
  const start = chinaDate(new Date(p.start));
  return state.interval === 'month' ? start.slice(0, 7) : start.slice(5);
}

function drawTrend() {
  const periods = answers.series?.periods ?? [];
  dash.trend.trend(
    periods.map((p) => ({ label: periodLabel(p), value: p.values?.[state.indicator] ?? null })),
    unitOf(state.indicator),
    label(state.indicator),
  );
  dash.trend.onPick = (i) =>
    NO_INCIDENTS.has(state.indicator) ||
    openIncidents({
      by: 'none',
      indicator: state.indicator,
      start: periods[i].start,
      end: periods[i].end,
      title: `${periodLabel(periods[i])} · ${label(state.indicator)}`,
    });
}

function drawCategories() {
  const indicator = NO_INCIDENTS.has(state.indicator) ? 'reports' : state.indicator;
  const rows = (answers.category?.rows ?? [])
    .filter((r) => r[indicator] !== null && r[indicator] !== undefined)
    .sort((a, b) => b[indicator] - a[indicator])
    .map((r) => ({ key: r.key, label: r.name && r.name !== r.key ? r.name : cfg.categories[r.key] || r.key, value: r[indicator] }));
  const shown = dash.categories.bars(rows, unitOf(indicator), label(indicator));
  dash.categories.onPick = (i) =>
    openIncidents({ by: 'category', key: shown[i].key, indicator, title: `${shown[i].label} · ${label(indicator)}` });
  $('category-exports').replaceChildren(...exportLinks('category'));
}

function drawList(id, answer) {
  $(id).replaceChildren(...incidentItems(answer?.incidents ?? []));
}

function drawIndicatorSelect(indicators) {
  const select = $('indicator');
  if (select.options.length) return;
  select.replaceChildren(...indicators.map((i) => h('option', { value: i.key }, i.label)));
  if (!(state.indicator in meta)) state.indicator = indicators[0]?.key ?? 'reports';
  select.value = state.indicator;
}

// ------------------------------------------------------------------ loading

async function loadSeries() {
  answers.series = await getJson(`${API}/series?${periodQuery({ interval: state.interval, by: 'none', indicator: state.indicator })}`);
}

// Ready ('data-wangge-ready' = 1) once what was asked is drawn.
async function readyAfter(work) {
  root.dataset.wanggeReady = '0';
  try {
    await work;
  } finally {
    root.dataset.wanggeReady = '1';
    // The first full render's time, for bench/dashboard_render.py: after the next frame is painted.
    if (dash.firstRender === undefined) {
      dash.firstRender = null;
      requestAnimationFrame(() => setTimeout(() => { dash.firstRender = performance.now(); }, 0));
    }
  }
}

const ask = (by) => getJson(`${API}?${periodQuery({ by })}`);

// The workers' ranking is asked when it is shown (a district has a thousand workers).
async function showRanking() {
  if (state.ranking === 'worker' && !answers.worker) answers.worker = await ask('worker');
  drawRanking();
}

// The indicators' names and units, from the first answer that has them.
function setMeta(answer) {
  if (Object.keys(meta).length) return;
  meta = Object.fromEntries(answer.indicators.map((i) => [i.key, { label: EN ? i.en : i.zh, unit: i.unit }]));
  drawIndicatorSelect(answer.indicators.map((i) => ({ key: i.key, label: EN ? i.en : i.zh })));
}

// Each part is drawn as soon as its answer is in.
async function load() {
  message('');
  keepInAddress();
  answers = {};
  const list = (indicator) => getJson(`${API}/incidents?${periodQuery({ by: 'none', indicator, limit: '50' })}`);
  const grid = ask('grid').then((answer) => {
    answers.grid = answer;
    setMeta(answer);
    drawKpis(answer.total);
    drawMap();
  });
  const worker = state.ranking === 'worker' ? ask('worker').then((answer) => (answers.worker = answer)) : null;
  const parts = [
    Promise.all([grid, worker]).then(drawRanking),
    Promise.all([grid, loadSeries()]).then(drawTrend),
    ask('category').then((answer) => {
      answers.category = answer;
      setMeta(answer);
      drawCategories();
    }),
    ...['overdue', 'supervised'].map((k) =>
      list(k).then((answer) => {
        answers[k] = answer;
        drawList(`${k}-list`, answer);
      }),
    ),
  ];
  try {
    await Promise.all(parts);
  } catch (exc) {
    message(`${W.load_failed}: ${exc.message}`);
    await Promise.allSettled(parts);
  }
}

async function changeIndicator() {
  keepInAddress();
  try {
    await loadSeries();
    drawMap();
    drawTrend();
    drawCategories();
    drawRanking();
  } catch (exc) {
    message(`${W.load_failed}: ${exc.message}`);
  }
}

function setPeriod(start, end) {
  if (!start || !end) return;
  if (end <= start) {
    message(W.end_before_start);
    return;
  }
  state.start = start;
  state.end = end;
  $('start').value = start;
  $('end').value = end;
  readyAfter(load());
}

function pressSwitch(name, value) {
  for (const b of document.querySelectorAll(`[data-switch='${name}'] button`)) b.setAttribute('aria-pressed', String(b.dataset.value === value));
}

// ------------------------------------------------------------------ start

const dash = {
  state,
  answers: () => answers,
  map: new GridMap($('map'), $('legend'), W, format, (code, name) => {
    const indicator = NO_INCIDENTS.has(state.indicator) ? 'reports' : state.indicator; // a score has no incidents: the reports
    openIncidents({ by: 'grid', key: code, indicator, title: `${name} · ${label(indicator)}` });
  }),
  trend: new Chart($('trend-chart'), W, format),
  categories: new Chart($('category-chart'), W, format),
  openIncidents,
};
window.WanggeDashboard = dash;

function boot() {
  const asked = new URLSearchParams(location.search);
  const [start, end] = preset('year');
  state.start = asked.get('start') || start;
  state.end = asked.get('end') || end;
  state.indicator = asked.get('indicator') || state.indicator;
  state.interval = asked.get('interval') === 'week' ? 'week' : 'month';
  state.ranking = asked.get('ranking') === 'worker' ? 'worker' : 'grid';
  $('start').value = state.start;
  $('end').value = state.end;
  pressSwitch('interval', state.interval);
  pressSwitch('ranking', state.ranking);

  for (const b of document.querySelectorAll('[data-preset]')) b.addEventListener('click', () => setPeriod(...preset(b.dataset.preset)));
  $('start').addEventListener('change', () => setPeriod($('start').value, $('end').value));
  $('end').addEventListener('change', () => setPeriod($('start').value, $('end').value));
  $('filters').addEventListener('submit', (e) => e.preventDefault());
  $('indicator').addEventListener('change', () => {
    state.indicator = $('indicator').value;
    readyAfter(changeIndicator());
  });
  for (const b of document.querySelectorAll("[data-switch='interval'] button")) {
    b.addEventListener('click', () => {
      state.interval = b.dataset.value;
      pressSwitch('interval', state.interval);
      readyAfter(changeIndicator());
    });
  }
  for (const b of document.querySelectorAll("[data-switch='ranking'] button")) {
    b.addEventListener('click', () => {
      state.ranking = b.dataset.value;
      showAll = false;
      pressSwitch('ranking', state.ranking);
      keepInAddress();
      readyAfter(showRanking().catch((exc) => message(`${W.load_failed}: ${exc.message}`)));
    });
  }
  $('panel-close').addEventListener('click', () => {
    $('panel').hidden = true;
  });
  addEventListener('keydown', (e) => {
    if (e.key === 'Escape') $('panel').hidden = true;
  });
  addEventListener('resize', () => dash.map.resize());

  // The grids' polygons and the figures are asked at once; the map is coloured when both are in.
  const polygons = getJson('/api/v1/grids?limit=10000').then(
    (grids) => dash.map.setGrids(grids.features, cfg.grids),
    (exc) => message(`${W.load_failed}: ${exc.message}`),
  );
  readyAfter(Promise.all([polygons, load()]).then(() => answers.grid && drawMap()));
}

boot();
