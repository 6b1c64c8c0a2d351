// The screens: my tasks, a task, the report form, the outbox, and the welcome for those not
// signed in. Each renders into <main> and returns when it is ready to use.
import { ApiError, etagOf, get, request } from './api.js';
import { signInUrl, signOut, signedIn } from './auth.js';
import {
  actionLabel, categoriesOf, categoryLabel, distance, kindLabel, kinds, stageLabel, t, when,
} from './i18n.js';
import { duplicateRadius, smallMap } from './map.js';
import * as outbox from './outbox.js';

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

function taskCard(f) {
  const p = f.properties;
  return h('li', {},
    h('a', { class: 'card', href: `/app/tasks/${p.id}`, 'data-nav': true, 'data-task': p.id },
      h('div', { class: 'title' }, p.title),
      h('div', { class: 'meta' },
        p.overdue ? h('span', { class: 'tag overdue' }, t('overdue')) : null,
        h('span', { class: 'tag' }, kindLabel(p.kind)),
        `${categoryLabel(p.kind, p.category)} · ${p.status_label}`),
      h('div', { class: 'meta' },
        p.due_at ? `${t('due')} ${when(p.due_at)}` : '',
        p.distance_m != null ? ` · ${t('away')} ${distance(p.distance_m)}` : '')));
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

function evidenceOf(flow, action) {
  const a = flow?.actions?.find((x) => x.action === action);
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
      p.overdue ? h('span', { class: 'tag overdue' }, t('overdue')) : null,
      h('span', { class: 'tag' }, kindLabel(p.kind)),
      h('span', { id: 'task-status', 'data-status': p.status }, `${t('status')}: ${p.status_label}`)),
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
  const evidence = new Set(mine.flatMap((a) => evidenceOf(flow, a.action)));
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
  const form = h('form', { id: 'action-form' },
    evidence.size ? h('p', {}, t('photo_needed'), ' ', [...evidence].map(stageLabel).join('、')) : null,
    h('label', { for: 'action-photo' }, t('add_photo')), file,
    h('label', { for: 'photo-stage' }, t('photo_stage')), stage,
    h('label', { for: 'action-comment' }, t('comment')), comment,
    assignee, rating, target,
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
    const required = evidenceOf(flow, chosen);
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
