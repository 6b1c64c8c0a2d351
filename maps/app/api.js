// Requests to wangge's API: JSON in and out, the sign-in headers, and errors as the API words
// them ({"detail": ...}) so a phone can show them.
import { authHeaders } from './auth.js';
import { t } from './i18n.js';

export class ApiError extends Error {
  constructor(status, detail, headers) {
    super(detail);
    this.status = status;
    this.headers = headers;
  }
  // Worth sending again later (the server or the network), rather than a refusal.
  get transient() {
    return this.status === 0 || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

function detailOf(data, status) {
  if (data && typeof data.detail === 'string') return data.detail;
  if (data && Array.isArray(data.detail)) return data.detail.map((d) => d.msg || JSON.stringify(d)).join('; ');
  return `HTTP ${status}`;
}

export async function request(method, url, { json, body, headers = {} } = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json', ...authHeaders(method), ...headers } };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers['Content-Type'] = 'application/json';
  } else if (body !== undefined) {
    init.body = body;
  }
  let r;
  try {
    r = await fetch(url, init);
  } catch {
    // The browser's own words ("Failed to fetch") mean nothing to a worker: say it in theirs.
    throw new ApiError(0, t('no_network'), new Headers());
  }
  const text = await r.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!r.ok) throw new ApiError(r.status, detailOf(data, r.status), r.headers);
  return { status: r.status, data, headers: r.headers };
}

export const get = async (url) => (await request('GET', url)).data;

// The ETag of an incident feature, as the API sends it (If-Match needs it).
export const etagOf = (feature) => `"${feature.properties.id}-${feature.properties.version}"`;
