// My patrol: started, its GPS fixes recorded while it runs (and only then: a track is sensitive
// personal data), sent in batches through the outbox, ended. What runs is kept on the phone
// (localStorage), with the fixes not yet handed to the outbox, so a reload or a closed app
// carries on where it was; the outbox keeps each batch, with its own Idempotency-Key, until the
// server has it.
import { get } from './api.js';
import { when } from './i18n.js';
import * as outbox from './outbox.js';

const KEY = 'wangge-patrol';
const BATCH_MS = 25000; // a batch every 25 s, or sooner at BATCH_MAX fixes
const BATCH_MAX = 200;
const START_URL = '/api/v1/patrols';

export const events = new EventTarget();
// {local, user, id, code, startSeq, startedAt, status: running|ending|ended, buffer: [[lon, lat, t, acc]],
//  recorded, last: {lon, lat, accuracy}, gpsError, server: the patrol's last properties, final, error}
let state = read();
let watchId = null;
let timer = null;
let track = null; // the patrol's track as the server last gave it (GeoJSON geometry), not kept
let recent = []; // [lat, lon] of the positions recorded since the page opened, for the map
let user = null; // who is signed in: a patrol kept on a shared phone is its own worker's only

function read() {
  try {
    return JSON.parse(localStorage.getItem(KEY));
  } catch {
    return null;
  }
}

function save() {
  if (state) localStorage.setItem(KEY, JSON.stringify(state));
  else localStorage.removeItem(KEY);
}

function changed() {
  save();
  events.dispatchEvent(new Event('change'));
}

export const current = () => (state && state.user === user ? state : null);
export const trackGeometry = () => track;
export const recording = () => watchId !== null;
export const trail = () => recent;

// Fixes on the phone not yet sent: those not yet batched and those waiting in the outbox.
export async function waiting() {
  if (!state) return 0;
  const queued = (await outbox.entries()).filter((e) => e.type === 'fixes' && e.patrol === state.local);
  return state.buffer.length + queued.reduce((n, e) => n + e.json.length, 0);
}

// The id in an address: known once the start has been sent; until then the outbox fills it in.
function url(path) {
  return state.id ? `${START_URL}/${state.id}${path}` : `${START_URL}/{id}${path}`;
}

const waitFor = () => (state.id ? {} : { dependsOn: state.startSeq });
const round = (x, digits) => Number(x.toFixed(digits));

function onFix(p) {
  if (!state || state.status !== 'running') return;
  const c = p.coords;
  state.buffer.push([round(c.longitude, 7), round(c.latitude, 7), round(p.timestamp / 1000, 3), round(c.accuracy, 1)]);
  state.recorded += 1;
  state.last = { lon: c.longitude, lat: c.latitude, accuracy: c.accuracy };
  recent.push([c.latitude, c.longitude]);
  if (recent.length > 5000) recent.splice(0, 1000);
  state.gpsError = null;
  changed();
  if (state.buffer.length >= BATCH_MAX) batch();
}

function onGpsError(err) {
  // Only a refusal is worth saying: "unavailable" and timeouts come and go while walking.
  if (!state || err.code !== err.PERMISSION_DENIED) return;
  state.gpsError = 'denied';
  changed();
}

function hidden() {
  if (document.visibilityState === 'hidden') batch();
}

function watch() {
  if (watchId !== null || !navigator.geolocation) return;
  watchId = navigator.geolocation.watchPosition(onFix, onGpsError, { enableHighAccuracy: true, maximumAge: 0, timeout: 60000 });
  timer = setInterval(batch, BATCH_MS);
  // A phone may stop the page at any moment once it is out of sight.
  document.addEventListener('visibilitychange', hidden);
}

function unwatch() {
  if (watchId !== null) navigator.geolocation.clearWatch(watchId);
  watchId = null;
  clearInterval(timer);
  document.removeEventListener('visibilitychange', hidden);
}

// Hand the fixes recorded so far to the outbox as one batch.
async function queueBatch() {
  if (!state?.buffer.length) return;
  const rows = state.buffer.slice();
  await outbox.queue({
    type: 'fixes', method: 'POST', url: url('/fixes'), json: rows, ...waitFor(),
    patrol: state.local, label: `${state.code || when(state.startedAt)} · ${rows.length}`,
  });
  // Only now off the phone's list: a batch is never lost between the two (a repeat is dropped
  // by the server as a duplicate).
  state.buffer.splice(0, rows.length);
  changed();
}

// ... and send what can be sent.
export async function batch() {
  await queueBatch();
  return outbox.flush();
}

// The patrol's figures, computed by the server from the fixes it has (and the buildings to visit).
export async function refresh() {
  if (!state?.id) return null;
  const f = await get(`${START_URL}/${state.id}`).catch(() => null);
  if (!f || !state || f.id !== state.id) return null;
  track = f.geometry;
  state.server = f.properties;
  state.code = f.properties.code;
  if (f.properties.status === 'ended' && state.status !== 'ended') finish(f);
  changed();
  return f;
}

function finish(feature) {
  unwatch();
  track = feature.geometry;
  state.status = 'ended';
  state.server = feature.properties;
  state.final = feature.properties;
  state.buffer = [];
}

export async function start(position) {
  const local = crypto.randomUUID();
  const json = position ? { lon: round(position.lon, 7), lat: round(position.lat, 7) } : {};
  const startedAt = new Date().toISOString();
  const startSeq = await outbox.queue({ type: 'patrol', method: 'POST', url: START_URL, json, patrol: local, label: when(startedAt) });
  state = { local, user, id: null, code: null, startSeq, startedAt, status: 'running', buffer: [], recorded: 0 };
  track = null;
  recent = [];
  changed();
  watch();
  return outbox.flush();
}

// Carry on with a patrol that runs on the server but not on this phone (another phone, or the
// phone forgot it).
export function adopt(feature) {
  const p = feature.properties;
  state = { local: crypto.randomUUID(), user, id: feature.id, code: p.code, startedAt: p.started_at, status: 'running', buffer: [], recorded: 0, server: p };
  track = feature.geometry;
  changed();
  watch();
}

// The last fixes, then the end; the final figures come with the end's answer.
export async function end() {
  unwatch();
  state.status = 'ending';
  state.endedAt = new Date().toISOString();
  changed();
  await queueBatch();
  state.endSeq = await outbox.queue({ type: 'patrol_end', method: 'POST', url: url('/end'), ...waitFor(), patrol: state.local, label: state.code || when(state.startedAt) });
  changed();
  return outbox.flush();
}

// The summary of an ended patrol has been read: the screen offers a new one.
export function forget() {
  unwatch();
  state = null;
  track = null;
  recent = [];
  changed();
}

function onSent(e) {
  const { entry, data } = e.detail;
  if (!state || entry.patrol !== state.local) return;
  if (entry.type === 'patrol') {
    state.id = data.id;
    state.code = data.properties.code;
    state.server = data.properties;
    changed();
  } else if (entry.type === 'fixes') {
    refresh();
  } else if (entry.type === 'patrol_end') {
    finish(data);
    changed();
  }
}

async function onFailed(e) {
  const { entry, error } = e.detail;
  if (!state || entry.patrol !== state.local) return;
  if (entry.type === 'patrol') {
    // Refused (e.g. a patrol of mine already runs): nothing was recorded on the server; what was
    // recorded here for it goes with it.
    unwatch();
    state = { user, status: 'refused', error };
    changed();
    await outbox.discard(entry.seq);
  } else if (entry.type === 'patrol_end') {
    const f = await refresh();
    if (f?.properties.status !== 'ended') {
      state.error = error;
      changed();
    }
  }
}

// At the app's start: a patrol of this user that was running goes on being recorded.
export function resume(username) {
  user = username;
  outbox.events.addEventListener('sent', onSent);
  outbox.events.addEventListener('failed', onFailed);
  if (!current()) return; // none, or another worker's on a shared phone: left alone
  if (state.status === 'running') watch();
  if (state.id) refresh();
}
