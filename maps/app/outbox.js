// What is waiting to be sent: reports, photos (as Blobs), comments, workflow actions and patrols
// (their start, batches of GPS fixes, their end), kept in IndexedDB and sent one at a time, in
// the order they were made. Each carries the Idempotency-Key made when it was queued, so a send
// that is retried (the answer was lost, the app was closed) never creates anything twice. An
// entry that needs the id of something not yet created (a photo of a report made offline, the
// fixes of a patrol started offline) waits for it to be sent and takes its id (and, for the
// public's reports, their Report-Token).
import { openDB } from 'idb';
import { ApiError, get, request } from './api.js';

const dbp = openDB('wangge-app', 1, {
  upgrade(db) {
    db.createObjectStore('outbox', { keyPath: 'seq', autoIncrement: true });
  },
});

export const events = new EventTarget();
let running = null;
let timer = null;
let backoffS = 2;

export async function entries() {
  return (await dbp).getAll('outbox');
}

function changed() {
  events.dispatchEvent(new Event('change'));
}

// Queue one request; returns its seq. ``entry``: {type, method, url, json?, blob?, stage?,
// dependsOn?: seq of a queued report or patrol start whose id replaces {id} in url, label}.
export async function queue(entry) {
  const key = crypto.randomUUID();
  const db = await dbp;
  // Read in the same turn as the add: a parent sent a moment ago has left its id (see done).
  const parentId = entry.dependsOn != null ? sentIds()[entry.dependsOn] : undefined;
  const seq = await db.add('outbox', {
    ...entry,
    ...(parentId != null ? { dependsOn: null, parentId } : {}),
    key,
    boundary: `----wangge${key.replaceAll('-', '')}`,
    queuedAt: new Date().toISOString(),
    tries: 0,
    state: 'waiting',
    error: null,
  });
  changed();
  return seq;
}

// The same bytes on every retry: the server compares them with the first request's.
function multipart(entry) {
  const b = entry.boundary;
  const type = entry.blob.type || 'application/octet-stream';
  const name = (entry.filename || 'photo.jpg').replace(/["\r\n]/g, '_');
  return new Blob([
    `--${b}\r\nContent-Disposition: form-data; name="stage"\r\n\r\n${entry.stage}\r\n`,
    `--${b}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: ${type}\r\n\r\n`,
    entry.blob,
    `\r\n--${b}--\r\n`,
  ]);
}

// What is created with an id others may wait for.
const PARENTS = new Set(['report', 'patrol']);

async function send(entry) {
  // (incidentId: the name older versions of the app queued it under)
  const url = entry.url.replace('{id}', String(entry.parentId ?? entry.incidentId));
  const headers = { 'Idempotency-Key': entry.key };
  if (entry.reportToken) headers['Report-Token'] = entry.reportToken;
  if (entry.etag) headers['If-Match'] = entry.etag;
  if (entry.blob) {
    headers['Content-Type'] = `multipart/form-data; boundary=${entry.boundary}`;
    return request(entry.method, url, { body: multipart(entry), headers });
  }
  return request(entry.method, url, { json: entry.json, headers });
}

// A workflow action refused because the incident changed (412): if it is still where the worker
// saw it (our own photos or comments changed its version), take its new ETag and send again.
async function refreshed(entry) {
  const id = entry.url.match(/incidents\/(\d+)/)?.[1] ?? entry.parentId ?? entry.incidentId;
  const feature = await get(`/api/v1/incidents/${id}`);
  if (entry.fromStatus && feature.properties.status !== entry.fromStatus) return null;
  return `"${feature.properties.id}-${feature.properties.version}"`;
}

// The ids of the last parents sent, by seq: an entry queued to wait for one that has just been
// sent (and so is not there to give it its id) takes it from here.
const SENT = 'wangge-outbox-sent';
const sentIds = () => JSON.parse(localStorage.getItem(SENT) || '{}');

function keepSentId(seq, id) {
  const kept = Object.entries({ ...sentIds(), [seq]: id }).slice(-20);
  localStorage.setItem(SENT, JSON.stringify(Object.fromEntries(kept)));
}

async function done(db, entry, answer) {
  // Kept before the transaction starts: an entry queued from now on finds it (see queue).
  if (PARENTS.has(entry.type)) keepSentId(entry.seq, answer.data.id);
  const tx = db.transaction('outbox', 'readwrite');
  if (PARENTS.has(entry.type)) {
    // Its dependants take the new id (and the public's Report-Token) in the same transaction
    // that removes it: resent after a crash, the request is answered from its key.
    for (const other of await tx.store.getAll()) {
      if (other.dependsOn === entry.seq) {
        await tx.store.put({
          ...other,
          dependsOn: null,
          parentId: answer.data.id,
          reportToken: answer.data.report_token ?? other.reportToken ?? null,
        });
      }
    }
  }
  await tx.store.delete(entry.seq);
  await tx.done;
  events.dispatchEvent(new CustomEvent('sent', { detail: { entry, data: answer.data } }));
  changed();
}

async function once() {
  const db = await dbp;
  for (;;) {
    const all = await db.getAll('outbox');
    const seqs = new Set(all.map((e) => e.seq));
    const entry = all.find((e) => e.state !== 'failed' && !(e.dependsOn && seqs.has(e.dependsOn)));
    if (!entry) return true;
    try {
      const answer = await send(entry);
      await done(db, entry, answer);
    } catch (exc) {
      if (!(exc instanceof ApiError)) throw exc;
      if (exc.transient) {
        await db.put('outbox', { ...entry, tries: entry.tries + 1, error: exc.message });
        changed();
        return false;
      }
      if (exc.status === 412 && entry.type === 'action' && entry.tries < 3) {
        const etag = await refreshed(entry).catch(() => null);
        if (etag) {
          await db.put('outbox', { ...entry, etag, tries: entry.tries + 1 });
          continue;
        }
      }
      // Refused: kept, shown with the API's reason, until retried or discarded.
      await db.put('outbox', { ...entry, state: 'failed', error: exc.message });
      changed();
      events.dispatchEvent(new CustomEvent('failed', { detail: { entry, error: exc.message } }));
    }
  }
}

// Send what can be sent now; when the network or the server is away, try again later, waiting
// longer each time (up to a minute). Resolves true when nothing sendable is left.
export function flush() {
  if (running) return running;
  clearTimeout(timer);
  running = once()
    .then((ok) => {
      backoffS = ok ? 2 : Math.min(60, backoffS * 2);
      if (!ok) timer = setTimeout(flush, backoffS * 1000);
      return ok;
    })
    .finally(() => {
      running = null;
    });
  return running;
}

export async function retry(seq) {
  const db = await dbp;
  const entry = await db.get('outbox', seq);
  if (entry) await db.put('outbox', { ...entry, state: 'waiting', error: null, tries: 0 });
  changed();
  return flush();
}

export async function discard(seq) {
  const db = await dbp;
  // What waits for it can never be sent either.
  for (const other of await db.getAll('outbox')) if (other.dependsOn === seq) await db.delete('outbox', other.seq);
  await db.delete('outbox', seq);
  changed();
}

export function start() {
  addEventListener('online', () => flush());
  return flush();
}
