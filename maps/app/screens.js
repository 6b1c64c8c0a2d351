// The screens: my tasks, a task, the report form, my patrol, the outbox, and the welcome for
// those not signed in. Each renders into <main> and returns when it is ready to use.
import { ApiError, etagOf, get, request } from './api.js';
import { signInUrl, signOut, signedIn } from './auth.js';
import {
  actionLabel, categoriesOf, categoryLabel, distance, kindLabel, kinds, stageLabel, t, when,
} from './i18n.js';
import { duplicateRadius, loadLeaflet, patrolSettings, smallMap } from './map.js';
import * as outbox from './outbox.js';
import * as patrol from './patrol.js';

const STAGES = ['report', 'close_up', 'wide', 'before', 'after', 'verify'];
const DISPATCHERS = ['grid_leader', 'community', 'admin'];
const PROPOSERS = ['planner', 'community', 'admin'];

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  el.append(...children.flat().filter((c) => c != null && c !== false));
  return el;
}

const main = () => document.getElementById('main');

function show(...children) {
  main().replaceChildren(...children.filter((c) => c != null));
}

function errorText(exc) {
  return exc instanceof ApiError ? exc.message : String(exc);
}

// Where the phone is (WGS84 from its GPS), or null within a few seconds.
let lastPosition = null;
export function here(timeoutMs = 8000) {
  return new Promise((resolve) => {
    if (!navigator.geolocation) return resolve(lastPosition);
    navigator.geolocation.getCurrentPosition(
      (p) => resolve((lastPosition = { lat: p.coords.latitude, lon: p.coords.longitude })),
      () => resolve(lastPosition),
      { enableHighAccuracy: true, timeout: timeoutMs, maximumAge: 30000 },
    );
  });
}

const near = (p) => (p ? `lon=${p.lon.toFixed(7)}&lat=${p.lat.toFixed(7)}` : '');

// ------------------------------------------------------------------ welcome

export function welcome() {
  show(
    h('h1', {}, t('welcome_title')),
    h('p', {}, t('welcome_text')),
    h('div', { class: 'stack' },
      h('a', { class: 'button', href: signInUrl('/app/') }, t('sign_in')),
      h('a', { class: 'button secondary', href: '/app/report', 'data-nav': true }, t('report_as_public'))),
  );
}

// ------------------------------------------------------------------ my tasks

// An on-site check the worker is named for (核实 / 核查), and a supervision order (督办).
function checkTag(p) {
  return p.my_check ? h('span', { class: 'tag check', 'data-check': p.my_check.check }, t(`check_${p.my_check.check}`)) : null;
}

function supervisionTag(p) {
  return p.supervision ? h('span', { class: 'tag overdue', 'data-supervised': p.supervision.count }, t('supervised')) : null;
}

function taskCard(f) {
  const p = f.properties;
  return h('li', {},
    h('a', { class: 'card', href: `/app/tasks/${p.id}`, 'data-nav': true, 'data-task': p.id },
      h('div', { class: 'title' }, p.title),
      h('div', { class: 'meta' },
        supervisionTag(p),
        checkTag(p),
        p.suspended ? h('span', { class: 'tag' }, t('suspended')) : null,
        p.overdue ? h('span', { class: 'tag overdue' }, t('overdue')) : null,
        h('span', { class: 'tag' }, kindLabel(p.kind)),
        `${categoryLabel(p.kind, p.category)} · ${p.status_label}`),
      h('div', { class: 'meta' },
        p.due_at ? `${t('due')} ${when(p.due_at)}` : '',
        p.distance_m != null ? ` · ${t('away')} ${distance(p.distance_m)}` : ''),
      p.supervision?.order ? h('div', { class: 'meta supervision' }, `${t('supervision_order')}: ${p.supervision.order}`) : null));
}

export async function tasks() {
  const me = signedIn();
  if (!me) return welcome();
  const heading = h('h1', {}, me.role === 'grid_worker' ? t('my_tasks') : t('grid_tasks'));
  const who = h('p', { class: 'muted' }, `${t('signed_in_as')}: ${me.display_name || me.username} `,
    h('button', { type: 'button', class: 'secondary', onclick: signOut }, t('sign_out')));
  show(heading, h('p', { class: 'muted' }, t('loading')), who);
  const position = await here(3000);
  const r = await request('GET', `/api/v1/tasks?limit=200&${near(position)}`).catch((exc) => exc);
  if (r instanceof Error) return show(heading, h('p', { class: 'error', role: 'alert' }, errorText(r)), who);
  const list = r.data.features;
  show(
    heading,
    r.headers.get('X-Wangge-Offline') ? h('p', { class: 'offline', role: 'status' }, t('tasks_cached')) : null,
    list.length ? h('ul', { class: 'plain', id: 'tasks' }, list.map(taskCard)) : h('p', {}, t('no_tasks')),
    who,
  );
}

// ------------------------------------------------------------------ one task

async function cachedTask(id) {
  // Offline: the task as the last task list had it (the service worker keeps that answer).
  const list = await get('/api/v1/tasks?limit=200');
  const f = list.features.find((x) => x.properties.id === id);
  if (!f) throw new ApiError(404, t('not_found'));
  return f;
}

function photoList(photos) {
  if (!photos?.length) return h('p', { class: 'muted' }, t('no_photos'));
  return h('div', { class: 'photos' }, photos.map((p) =>
    h('a', { href: p.url, target: '_blank', rel: 'noopener' },
      h('img', { src: p.thumbnail_url || p.url, alt: stageLabel(p.stage), loading: 'lazy', width: 96, height: 96 }))));
}

function evidenceOf(flow, action, mine = []) {
  const a = mine.find((x) => x.action === action && x.evidence) ?? flow?.actions?.find((x) => x.action === action);
  const ev = a?.evidence;
  if (!ev) return [];
  return (Array.isArray(ev) ? ev : [ev]).map((e) => (typeof e === 'string' ? e : e.stage)).filter(Boolean);
}

export async function task(id) {
  const position = await here(3000);
  let f;
  try {
    f = (await request('GET', `/api/v1/tasks/${id}?${near(position)}`)).data;
  } catch (exc) {
    if (!(exc instanceof ApiError) || !exc.transient) return show(h('p', { class: 'error', role: 'alert' }, errorText(exc)));
    f = await cachedTask(id).catch(() => null);
    if (!f) return show(h('p', { class: 'error', role: 'alert' }, errorText(exc)));
  }
  const p = f.properties;
  const [flow, timeline, photos] = await Promise.all([
    get(`/api/v1/incidents/${id}/workflow`).catch(() => null),
    get(`/api/v1/incidents/${id}/timeline`).catch(() => null),
    get(`/api/v1/incidents/${id}/photos`).catch(() => null),
  ]);
  const mapEl = h('div', { class: 'map', role: 'img', 'aria-label': `${t('position')}: ${p.title}` });
  const message = h('p', { role: 'status', id: 'task-message' });
  show(
    h('h1', {}, p.title),
    h('p', {},
      supervisionTag(p),
      checkTag(p),
      p.suspended ? h('span', { class: 'tag' }, t('suspended')) : null,
      p.overdue ? h('span', { class: 'tag overdue' }, t('overdue')) : null,
      h('span', { class: 'tag' }, kindLabel(p.kind)),
      h('span', { id: 'task-status', 'data-status': p.status }, `${t('status')}: ${p.status_label}`)),
    p.my_check ? h('p', { class: 'notice', id: 'check-task' }, `${t('check_task')} · ${t(`check_${p.my_check.check}`)}`,
      p.my_check.photo ? ` · ${t('check_photo')} ${stageLabel(p.my_check.photo)}` : '') : null,
    p.supervision?.order ? h('p', { class: 'error', id: 'supervision' }, `${t('supervision_order')}: ${p.supervision.order}`) : null,
    h('p', { class: 'muted' },
      `${t('category')}: ${categoryLabel(p.kind, p.category)} · ${t('grid')}: ${p.grid ?? '—'}`,
      p.assignee ? ` · ${t('assignee')}: ${p.assignee.name}` : '',
      p.due_at ? ` · ${t('due')} ${when(p.due_at)}` : '',
      p.distance_m != null ? ` · ${t('away')} ${distance(p.distance_m)}` : ''),
    p.description ? h('p', {}, p.description) : null,
    mapEl,
    h('h2', {}, t('photos')),
    photoList(photos?.photos ?? photos ?? p.photos),
    h('h2', {}, t('what_next')),
    await actionForm(f, flow, message),
    message,
    h('h2', {}, t('timeline')),
    h('ul', { class: 'plain timeline' }, (timeline?.timeline ?? []).map((e) =>
      h('li', {}, h('strong', {}, actionLabel(e.action)), ` · ${e.actor} · ${when(e.at)}`, e.comment ? h('div', {}, e.comment) : null))),
  );
  const [lon, lat] = f.geometry.coordinates;
  smallMap(mapEl, lat, lon, { label: p.title }).catch(() => mapEl.remove());
}

async function responderChoice(id) {
  const found = await get(`/api/v1/incidents/${id}/responders?on_duty=true&k=5`).catch(() => null);
  const people = found?.responders ?? [];
  if (!people.length) return null;
  return h('div', {},
    h('label', { for: 'assignee' }, t('dispatch_to'), ' ', h('span', { class: 'muted' }, t('suggested'))),
    h('select', { id: 'assignee', name: 'assignee' }, people.map((r, i) =>
      h('option', { value: r.id, selected: i === 0 }, `${r.name} · ${distance(r.distance_m)}`))));
}

async function actionForm(f, flow, message) {
  const p = f.properties;
  const me = signedIn();
  const mine = p.my_actions ?? [];
  const needs = new Set(mine.flatMap((a) => a.needs));
  const evidence = new Set(mine.flatMap((a) => evidenceOf(flow, a.action, mine)));
  const dispatcher = me && DISPATCHERS.includes(me.role) && p.open;
  if (!mine.length && !dispatcher) return h('p', { class: 'muted' }, t('no_actions'));
  const stage = h('select', { id: 'photo-stage' }, STAGES.map((s) =>
    h('option', { value: s, selected: evidence.has(s) || (!evidence.size && s === 'close_up') }, stageLabel(s))));
  const file = h('input', { type: 'file', id: 'action-photo', accept: 'image/*', capture: 'environment' });
  const comment = h('textarea', { id: 'action-comment', name: 'comment', maxlength: 2000 });
  const assignee = needs.has('assignee') || dispatcher ? await responderChoice(p.id) : null;
  const rating = needs.has('rating')
    ? h('div', {}, h('label', { for: 'rating' }, t('rating')),
      h('select', { id: 'rating' }, [5, 4, 3, 2, 1].map((n) => h('option', { value: n }, String(n)))))
    : null;
  const target = needs.has('target')
    ? h('div', {}, h('label', { for: 'target' }, t('target')), h('input', { id: 'target', type: 'number', inputmode: 'numeric', min: 1 }))
    : null;
  const amount = needs.has('amount')
    ? h('div', {}, h('label', { for: 'amount' }, t('amount')), h('input', { id: 'amount', type: 'number', inputmode: 'decimal', min: 0.5, step: 0.5 }))
    : null;
  const form = h('form', { id: 'action-form' },
    evidence.size ? h('p', {}, t('photo_needed'), ' ', [...evidence].map(stageLabel).join('、')) : null,
    h('label', { for: 'action-photo' }, t('add_photo')), file,
    h('label', { for: 'photo-stage' }, t('photo_stage')), stage,
    h('label', { for: 'action-comment' }, t('comment')), comment,
    assignee, rating, target, amount,
    h('div', { class: 'actions' },
      mine.map((a) => h('button', { type: 'submit', name: 'action', value: a.action, 'data-action': a.action }, actionLabel(a.action))),
      dispatcher && !mine.some((a) => a.action === 'dispatch') && assignee
        ? h('button', { type: 'submit', class: 'secondary', name: 'action', value: '@assign', 'data-action': '@assign' }, t('entry_assign'))
        : null));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const chosen = event.submitter?.value;
    const action = mine.find((a) => a.action === chosen);
    const photo = file.files[0];
    message.className = '';
    if (action?.needs.includes('comment') && !comment.value.trim()) {
      message.className = 'error';
      message.textContent = t('comment_needed');
      return comment.focus();
    }
    if (action?.needs.includes('amount') && !(Number(document.getElementById('amount')?.value) > 0)) {
      message.className = 'error';
      message.textContent = t('amount_needed');
      return document.getElementById('amount').focus();
    }
    const required = evidenceOf(flow, chosen, mine);
    if (required.length && !(photo && required.includes(stage.value))) {
      message.className = 'error';
      message.textContent = `${t('photo_needed')} ${required.map(stageLabel).join('、')}`;
      return file.focus();
    }
    const base = `/api/v1/incidents/${p.id}`;
    if (photo) {
      await outbox.queue({ type: 'photo', method: 'POST', url: `${base}/photos`, blob: photo, filename: photo.name, stage: stage.value, label: `${p.title} · ${stageLabel(stage.value)}` });
    }
    const assigneeId = document.getElementById('assignee')?.value;
    if (chosen === '@assign') {
      await outbox.queue({ type: 'assign', method: 'POST', url: `${base}/assign`, json: { responder_id: Number(assigneeId) }, etag: etagOf(f), fromStatus: p.status, label: `${p.title} · ${t('entry_assign')}` });
    } else {
      const json = {};
      if (comment.value.trim()) json.comment = comment.value.trim();
      if (action.needs.includes('assignee') && assigneeId) json.assignee_id = Number(assigneeId);
      if (action.needs.includes('rating')) json.rating = Number(document.getElementById('rating').value);
      if (action.needs.includes('target')) json.target_id = Number(document.getElementById('target').value);
      if (action.needs.includes('amount')) json.amount = Number(document.getElementById('amount').value);
      await outbox.queue({ type: 'action', method: 'POST', url: `${base}/actions/${chosen}`, json, etag: etagOf(f), fromStatus: p.status, label: `${p.title} · ${actionLabel(chosen)}` });
    } 
    await sendNow(message, () => task(p.id));
  });
  return form;
}

// Send what was just queued; say whether it went or waits on the phone.
async function sendNow(message, then) {
  message.className = 'notice';
  message.textContent = t('queued');
  let failed = null;
  const onFailed = (e) => { failed = e.detail.error; };
  outbox.events.addEventListener('failed', onFailed);
  const ok = await outbox.flush().finally(() => outbox.events.removeEventListener('failed', onFailed));
  if (failed) {
    message.className = 'error';
    message.setAttribute('role', 'alert');
    message.textContent = failed;
  } else if (!ok) {
    message.textContent = t('queued_offline');
  } else if (then) {
    await then();
  }
  return ok && !failed;
}

// ------------------------------------------------------------------ report

export async function report() {
  const me = signedIn();
  const kindSelect = h('select', { id: 'kind', name: 'kind' },
    kinds().filter((k) => k !== 'renovation' || (me && PROPOSERS.includes(me.role))).map((k) => h('option', { value: k }, kindLabel(k))));
  const categorySelect = h('select', { id: 'category', name: 'category' });
  const fillCategories = () => categorySelect.replaceChildren(
    ...Object.entries(categoriesOf(kindSelect.value)).map(([c, label]) => h('option', { value: c }, label)));
  fillCategories();
  const title = h('input', { id: 'title', name: 'title', required: true, maxlength: 200, autocomplete: 'off' });
  const description = h('textarea', { id: 'description', name: 'description', maxlength: 5000 });
  const camera = h('input', { type: 'file', id: 'camera', accept: 'image/*', capture: 'environment' });
  const gallery = h('input', { type: 'file', id: 'gallery', accept: 'image/*', multiple: true });
  const mapEl = h('div', { class: 'map', id: 'report-map', role: 'application', 'aria-label': t('position_hint') });
  const place = h('div', { id: 'place', 'aria-live': 'polite' }, h('p', { class: 'muted' }, t('locating')));
  const message = h('p', { role: 'status', id: 'report-message' });
  const personal = me ? [] : [
    h('label', { for: 'reporter_name' }, t('your_name')), h('input', { id: 'reporter_name', maxlength: 100, autocomplete: 'name' }),
    h('label', { for: 'reporter_phone' }, t('your_phone')), h('input', { id: 'reporter_phone', type: 'tel', maxlength: 32, autocomplete: 'tel' }),
  ];
  const form = h('form', { id: 'report-form', novalidate: true },
    h('label', { for: 'kind' }, t('kind')), kindSelect,
    h('label', { for: 'category' }, t('category')), categorySelect,
    h('label', { for: 'title' }, t('title')), title,
    h('label', { for: 'description' }, t('description')), description,
    h('fieldset', {}, h('legend', {}, t('photos')),
      h('label', { for: 'camera' }, t('camera')), camera,
      h('label', { for: 'gallery' }, t('gallery')), gallery),
    ...personal,
    h('h2', {}, t('position')), h('p', { class: 'muted' }, t('position_hint')), mapEl, place,
    h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'send-report' }, t('send'))),
    message);
  show(h('h1', {}, t('report_title')), form);

  let point = null;
  let seen = 0;
  const preview = async () => {
    if (!point) return;
    const asked = ++seen;
    const url = `/api/v1/incidents/nearby?${near(point)}&kind=${kindSelect.value}&category=${categorySelect.value}`;
    const found = await get(url).catch(() => null);
    if (asked !== seen) return; // a newer position or kind was asked since
    place.replaceChildren(...placeInfo(found, { title, description, camera, gallery, message }));
  };
  kindSelect.addEventListener('change', () => { fillCategories(); preview(); });
  categorySelect.addEventListener('change', preview);
  const moved = (lat, lon) => { point = { lat, lon }; preview(); };
  here().then(async (position) => {
    const start = position ?? { lat: 23.6955, lon: 113.0455 };
    if (!position) place.replaceChildren(h('p', { class: 'error' }, t('no_position')));
    else moved(start.lat, start.lon);
    await smallMap(mapEl, start.lat, start.lon, { onMove: moved, label: t('position') }).catch(() => null);
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!title.value.trim()) {
      message.className = 'error';
      message.textContent = t('need_title');
      return title.focus();
    }
    if (!point) {
      message.className = 'error';
      message.textContent = t('no_position');
      return;
    }
    const props = { kind: kindSelect.value, category: categorySelect.value, title: title.value.trim() };
    if (description.value.trim()) props.description = description.value.trim();
    for (const key of ['reporter_name', 'reporter_phone']) {
      const v = document.getElementById(key)?.value.trim();
      if (v) props[key] = v;
    }
    const feature = { type: 'Feature', geometry: { type: 'Point', coordinates: [point.lon, point.lat] }, properties: props };
    const seq = await outbox.queue({ type: 'report', method: 'POST', url: '/api/v1/incidents', json: feature, label: props.title });
    for (const photo of [...camera.files, ...gallery.files]) {
      await outbox.queue({ type: 'photo', method: 'POST', url: '/api/v1/incidents/{id}/photos', dependsOn: seq, blob: photo, filename: photo.name, stage: 'report', label: `${props.title} · ${stageLabel('report')}` });
    }
    let created = null;
    const onSent = (e) => { if (e.detail.entry.seq === seq) created = e.detail.data; };
    outbox.events.addEventListener('sent', onSent);
    const ok = await sendNow(message).finally(() => outbox.events.removeEventListener('sent', onSent));
    if (created) {
      message.className = 'notice';
      message.replaceChildren(`${t('sent_report')} ${created.id}`,
        me ? h('span', {}, ' · ', h('a', { href: `/app/tasks/${created.id}`, 'data-nav': true, id: 'created-link' }, t('task'))) : '');
    }
    if (ok || created) form.querySelector('#send-report').disabled = true;
  });
}

function placeInfo(found, fields) {
  if (!found) return [h('p', { class: 'muted' }, '—')];
  const out = [
    h('p', { id: 'place-grid' }, `${t('in_grid')}: `, found.grid ? `${found.grid.name} (${found.grid.code})` : t('outside_grids')),
    found.building ? h('p', { id: 'place-building' }, `${t('nearest_building')}: ${found.building.name} · ${distance(found.building.distance_m)}`) : null,
    h('h2', {}, `${t('nearby_open')} (${Math.round(duplicateRadius())} ${t('metres')})`),
  ];
  if (!found.open_incidents.length) return [...out, h('p', { class: 'muted' }, t('nearby_none'))];
  return [...out, h('ul', { class: 'plain', id: 'nearby' }, found.open_incidents.map((i) =>
    h('li', { class: 'card' },
      h('div', { class: 'title' }, i.title),
      h('div', { class: 'meta' }, `#${i.id} · ${categoryLabel(i.kind, i.category)} · ${i.status_label} · ${distance(i.distance_m)}`),
      signedIn() ? h('button', { type: 'button', class: 'secondary', onclick: () => addTo(i, fields) }, t('add_to_this')) : null)))];
}

// Instead of a new report: the description as a comment, and the photos, on an open incident.
async function addTo(incident, { title, description, camera, gallery, message }) {
  const text = [title.value.trim(), description.value.trim()].filter(Boolean).join('：');
  const base = `/api/v1/incidents/${incident.id}`;
  if (text) await outbox.queue({ type: 'comment', method: 'POST', url: `${base}/comments`, json: { text }, label: `#${incident.id} · ${t('entry_comment')}` });
  for (const photo of [...camera.files, ...gallery.files]) {
    await outbox.queue({ type: 'photo', method: 'POST', url: `${base}/photos`, blob: photo, filename: photo.name, stage: 'report', label: `#${incident.id} · ${stageLabel('report')}` });
  }
  if (await sendNow(message)) message.textContent = `${t('added_to')} #${incident.id}`;
}

// ------------------------------------------------------------------ my patrol

const TO_VISIT_SHOWN = 10;

function clock(seconds) {
  const s = Math.max(0, Math.round(seconds || 0));
  const pad = (n) => String(n).padStart(2, '0');
  return `${Math.floor(s / 3600)}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
}

// Metres between two WGS84 points (haversine: near enough for "how far is that building").
function metresBetween(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const x = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 12742000 * Math.asin(Math.sqrt(x));
}

// Time on patrol by the phone's clock, until now or until End was pressed.
const elapsed = (s) => clock(((s.endedAt ? Date.parse(s.endedAt) : Date.now()) - Date.parse(s.startedAt)) / 1000);

function checkIn(p) {
  if (p?.checked_in == null) return t('patrol_checkin_unknown');
  return p.checked_in ? t('patrol_checked_in') : `${t('patrol_not_checked_in')} ${distance(p.check_in_distance_m)}`;
}

function figure(id, label, value) {
  return h('div', {}, h('dt', {}, label), h('dd', { id }, value));
}

export async function patrolScreen() {
  const me = signedIn();
  if (!me) return welcome();
  if (!patrolSettings().roles.includes(me.role)) return show(h('h1', {}, t('patrol_title')), h('p', {}, t('patrol_not_for_role')));
  const s = patrol.current();
  if (!s || s.status === 'refused') return patrolStart(me, s);
  if (s.status === 'ended') return patrolSummary(s);
  return patrolNow();
}

async function patrolStart(me, refused) {
  const message = h('p', { role: 'status', id: 'patrol-message' });
  if (refused) {
    message.className = 'error';
    message.setAttribute('role', 'alert');
    message.textContent = refused.error;
    patrol.forget();
  }
  const start = h('button', { type: 'button', id: 'start-patrol' }, t('patrol_start'));
  const elsewhere = h('div', { id: 'patrol-elsewhere' });
  show(
    h('h1', {}, t('patrol_title')),
    h('p', {}, t('patrol_about').replace('{days}', String(patrolSettings().retention_days))),
    h('div', { class: 'actions' }, start),
    message,
    elsewhere,
  );
  start.addEventListener('click', async () => {
    start.disabled = true;
    message.className = 'notice';
    message.textContent = t('locating');
    await patrol.start(await here(5000));
    await patrolScreen();
  });
  // A patrol of mine that runs on the server but not on this phone (started on another, or
  // this one forgot it): carry on with it rather than be refused a second one.
  if (!me.responder) return;
  const mine = await get(`/api/v1/patrols?responder=${encodeURIComponent(me.responder.code)}&limit=20`).catch(() => null);
  const open = mine?.features?.find((f) => f.properties.status === 'running');
  if (!open || !start.isConnected) return;
  elsewhere.replaceChildren(h('div', { class: 'card' },
    h('div', { class: 'title' }, t('patrol_running_elsewhere')),
    h('div', { class: 'meta' }, `${open.properties.code} · ${t('patrol_started_at')} ${when(open.properties.started_at)}`),
    h('div', { class: 'actions' }, h('button', {
      type: 'button', class: 'secondary', id: 'continue-patrol',
      onclick: () => { patrol.adopt(open); patrolScreen(); },
    }, t('patrol_continue')))));
}

// The patrol's map: the track as the server has it, the positions recorded here since the page
// opened, where I am, and the buildings still to visit.
async function patrolMap(el, s) {
  const first = s.last ?? s.server?.to_visit?.[0];
  if (!first) return null;
  const L = await loadLeaflet();
  const { map, marker } = await smallMap(el, first.lat, first.lon, { label: t('patrol_here') });
  const sent = L.polyline([], { color: '#0b4f8a', weight: 4, opacity: 0.85 }).addTo(map);
  const recent = L.polyline([], { color: '#0b4f8a', weight: 3, dashArray: '4 6' }).addTo(map);
  const toVisit = L.layerGroup().addTo(map);
  let shownToVisit = '';
  return (now) => {
    const line = patrol.trackGeometry();
    sent.setLatLngs(line?.type === 'LineString' ? line.coordinates.map(([x, y]) => [y, x]) : []);
    recent.setLatLngs(patrol.trail());
    if (now.last) marker.setLatLng([now.last.lat, now.last.lon]);
    const list = (now.server?.to_visit ?? []).slice(0, 50);
    const key = list.map((b) => b.code).join();
    if (key === shownToVisit) return;
    shownToVisit = key;
    toVisit.clearLayers();
    for (const b of list) {
      L.circleMarker([b.lat, b.lon], { radius: 6, color: '#7a4100', weight: 2, fillColor: '#f4a261', fillOpacity: 0.9 })
        .bindTooltip(b.name).addTo(toVisit);
    }
  };
}

function toVisitItems(now) {
  const list = now.server?.to_visit;
  if (!list) return [h('li', { class: 'muted' }, t('patrol_to_visit_later'))];
  if (!list.length) return [h('li', { class: 'notice' }, t('patrol_all_visited'))];
  // Nearest first from where I am now (the server orders them from the last fix it has).
  const away = (b) => (now.last ? metresBetween(now.last, b) : null);
  const sorted = now.last ? list.slice().sort((a, b) => away(a) - away(b)) : list;
  const items = sorted.slice(0, TO_VISIT_SHOWN).map((b) => h('li', { class: 'card', 'data-building': b.code },
    h('div', { class: 'title' }, b.name),
    h('div', { class: 'meta' }, b.code, now.last ? ` · ${t('away')} ${distance(away(b))}` : '')));
  if (list.length > TO_VISIT_SHOWN) items.push(h('li', { class: 'muted' }, t('patrol_more').replace('{n}', String(list.length - TO_VISIT_SHOWN))));
  return items;
}

async function patrolNow() {
  const s = patrol.current();
  const title = h('h1', {}, t('patrol_now'));
  const code = h('p', { class: 'muted', id: 'patrol-code' });
  const dd = {
    elapsed: figure('patrol-elapsed', t('patrol_elapsed'), ''),
    distance: figure('patrol-distance', t('patrol_distance'), ''),
    recorded: figure('patrol-recorded', t('patrol_recorded'), ''),
    waiting: figure('patrol-waiting', t('patrol_waiting'), ''),
    visited: figure('patrol-visited', t('patrol_visited'), ''),
    checkin: figure('patrol-checkin', t('patrol_checkin'), ''),
  };
  const gps = h('p', { class: 'error', role: 'alert', id: 'patrol-gps', hidden: true }, t('patrol_gps_denied'));
  const mapEl = h('div', { class: 'map', id: 'patrol-map', role: 'img', 'aria-label': t('patrol_map') });
  const message = h('p', { role: 'status', id: 'patrol-message' });
  const end = h('button', { type: 'button', class: 'danger', id: 'end-patrol' }, t('patrol_end'));
  const toVisit = h('ul', { class: 'plain', id: 'to-visit' });
  show(
    title, code,
    h('dl', { class: 'figures', id: 'patrol-figures' }, Object.values(dd)),
    h('p', { class: 'muted' }, t('patrol_sent_note')),
    gps, mapEl,
    h('div', { class: 'actions' }, end),
    message,
    h('h2', {}, t('patrol_to_visit')), toVisit,
  );
  const set = (key, value) => { dd[key].lastChild.textContent = value; };
  let drawMap = null;
  let mapAsked = false;
  const update = async () => {
    const now = patrol.current();
    if (!mapEl.isConnected) return stop();
    if (!now || now.status === 'ended' || now.status === 'refused') {
      stop();
      return patrolScreen();
    }
    code.textContent = now.code ?? t('patrol_starting');
    set('elapsed', elapsed(now));
    set('distance', distance(now.server?.distance_m ?? 0));
    set('recorded', String(now.recorded));
    set('waiting', String(await patrol.waiting()));
    set('visited', String(now.server?.buildings_visited ?? 0));
    set('checkin', checkIn(now.server));
    gps.hidden = now.gpsError !== 'denied';
    end.hidden = now.status !== 'running';
    if (now.status === 'ending') {
      message.className = now.error ? 'error' : 'notice';
      message.textContent = now.error ?? t('patrol_ending_offline');
    }
    toVisit.replaceChildren(...toVisitItems(now));
    if (!mapAsked && (now.last || now.server?.to_visit?.length)) {
      mapAsked = true;
      drawMap = await patrolMap(mapEl, now).catch(() => null);
    }
    if (drawMap) drawMap(now);
  };
  const tick = setInterval(() => {
    const now = patrol.current();
    if (!mapEl.isConnected) return stop();
    if (now) set('elapsed', elapsed(now));
  }, 1000);
  function stop() {
    clearInterval(tick);
    patrol.events.removeEventListener('change', update);
    outbox.events.removeEventListener('change', update);
  }
  patrol.events.addEventListener('change', update);
  outbox.events.addEventListener('change', update); // "waiting to be sent" falls as batches go
  end.addEventListener('click', async () => {
    end.disabled = true;
    message.className = 'notice';
    message.textContent = t('patrol_ending');
    await patrol.end();
  });
  await update();
  if (s.id) patrol.refresh();
}

async function patrolSummary(s) {
  if (!patrol.trackGeometry() && s.id) await patrol.refresh(); // the track is not kept on the phone
  const p = s.final ?? s.server ?? {};
  const mapEl = h('div', { class: 'map', id: 'patrol-map', role: 'img', 'aria-label': t('patrol_map') });
  show(
    h('h1', {}, t('patrol_done')),
    h('p', { class: 'muted', id: 'patrol-code' }, p.code ?? ''),
    h('dl', { class: 'figures', id: 'patrol-final' },
      figure('final-distance', t('patrol_distance'), distance(p.distance_m ?? 0)),
      figure('final-duration', t('patrol_duration'), clock(p.duration_s)),
      figure('final-visited', t('patrol_visited'), String(p.buildings_visited ?? 0)),
      figure('final-checkin', t('patrol_checkin'), checkIn(p))),
    mapEl,
    h('div', { class: 'actions' }, h('button', {
      type: 'button', id: 'new-patrol', onclick: () => { patrol.forget(); patrolScreen(); },
    }, t('patrol_new'))),
  );
  const line = patrol.trackGeometry();
  if (line?.type !== 'LineString') return mapEl.remove();
  const [lon, lat] = line.coordinates.at(-1);
  smallMap(mapEl, lat, lon, { label: t('patrol_here') }).then(async ({ map }) => {
    const L = await loadLeaflet();
    const track = L.polyline(line.coordinates.map(([x, y]) => [y, x]), { color: '#0b4f8a', weight: 4 }).addTo(map);
    map.fitBounds(track.getBounds(), { padding: [16, 16] });
  }).catch(() => mapEl.remove());
}

// ------------------------------------------------------------------ outbox

export async function outboxScreen() {
  const all = await outbox.entries();
  const seqs = new Set(all.map((e) => e.seq));
  const state = (e) => (e.state === 'failed' ? t('failed') : e.dependsOn && seqs.has(e.dependsOn) ? t('waiting_for') : t('waiting'));
  show(
    h('h1', {}, t('outbox_title')),
    all.length
      ? h('ul', { class: 'plain', id: 'outbox-list' }, all.map((e) => h('li', { class: 'card', 'data-type': e.type, 'data-state': e.state },
        h('div', { class: 'title' }, `${t(`entry_${e.type}`)} · ${e.label || ''}`),
        h('div', { class: 'meta' }, `${state(e)} · ${when(e.queuedAt)}`),
        e.error ? h('div', { class: 'error' }, e.error) : null,
        e.state === 'failed'
          ? h('div', { class: 'actions' },
            h('button', { type: 'button', onclick: () => outbox.retry(e.seq).then(outboxScreen) }, t('retry_now')),
            h('button', { type: 'button', class: 'danger', onclick: () => outbox.discard(e.seq).then(outboxScreen) }, t('discard')))
          : null)))
      : h('p', {}, t('outbox_empty')),
    all.length ? h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => outbox.flush().then(outboxScreen) }, t('retry_now'))) : null,
  );
}

export function notFound() {
  show(h('h1', {}, t('not_found')), h('a', { href: '/app/', 'data-nav': true }, t('back')));
}
