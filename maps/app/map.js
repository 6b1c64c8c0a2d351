// Small Leaflet maps, loaded only when a screen shows one (the task list needs none).
const config = JSON.parse(document.getElementById('wangge-config').textContent);
let leaflet = null;

function load(tag, attrs) {
  return new Promise((resolve, reject) => {
    const el = Object.assign(document.createElement(tag), attrs);
    el.onload = resolve;
    el.onerror = () => reject(new Error(`could not load ${attrs.src || attrs.href}`));
    document.head.append(el);
  });
}

export function loadLeaflet() {
  leaflet ??= Promise.all([
    load('link', { rel: 'stylesheet', href: config.vendor.leaflet_css }),
    load('script', { src: config.vendor.leaflet_js }),
  ]).then(() => window.L);
  return leaflet;
}

// A map in ``el`` centred on [lat, lon]; with ``onMove`` its marker can be dragged (or placed by
// tapping the map) and reports where it was left.
export async function smallMap(el, lat, lon, { onMove, label } = {}) {
  const L = await loadLeaflet();
  const map = L.map(el, { zoomControl: true, attributionControl: true }).setView([lat, lon], 17);
  L.tileLayer(config.tiles.url, { maxZoom: 19, attribution: config.tiles.attribution }).addTo(map);
  const marker = L.marker([lat, lon], { draggable: Boolean(onMove), keyboard: true, title: label || '', alt: label || '' }).addTo(map);
  if (onMove) {
    const moved = (ll) => onMove(ll.lat, ll.lng);
    marker.on('dragend', () => moved(marker.getLatLng()));
    map.on('click', (e) => {
      marker.setLatLng(e.latlng);
      moved(e.latlng);
    });
  }
  return { map, marker, moveTo: (la, lo) => { marker.setLatLng([la, lo]); map.setView([la, lo]); } };
}

export const duplicateRadius = () => config.duplicate_radius_m;
// Who records patrols, and how long their tracks are kept (the server's settings).
export const patrolSettings = () => config.patrol;
