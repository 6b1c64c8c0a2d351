// The dashboard's map: every grid a polygon coloured by the chosen indicator, with its legend.
// Leaflet (a classic script, window.L) draws the polygons on one canvas, which keeps a district's
// thousand grids smooth; a click on a grid asks the page for that grid's incidents.

const BLUES = ['#eff3ff', '#bdd7e7', '#6baed6', '#3182bd', '#08519c'];
const REDS = ['#fee5d9', '#fcae91', '#fb6a4a', '#de2d26', '#a50f15'];
const GRADES = { A: '#1a9850', B: '#91cf60', C: '#fee08b', D: '#fc8d59', E: '#d73027' };
const NO_DATA = '#d9d9d9';
// Indicators where more is worse: drawn in reds.
export const WORSE = new Set(['overdue', 'supervised', 'rework_rate', 'avg_handle_work_hours']);

// Classes of equal width over the values shown: [[from, to, colour], ...].
function classes(values, palette) {
  if (!values.length) return [];
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  if (lo === hi) return [[lo, hi, palette[lo === 0 ? 0 : 2]]];
  const step = (hi - lo) / palette.length;
  return palette.map((colour, i) => [lo + i * step, i === palette.length - 1 ? hi : lo + (i + 1) * step, colour]);
}

export class GridMap {
  constructor(element, legend, words, format, onPick) {
    this.words = words;
    this.format = format;
    this.legend = legend;
    this.onPick = onPick;
    this.layers = new Map(); // grid code -> its polygon layer
    this.colours = new Map(); // grid code -> fill colour now
    this.values = new Map();
    this.names = new Map(); // grid code -> its name
    this.map = L.map(element, { attributionControl: false, zoomSnap: 0.25, preferCanvas: true });
    this.renderer = L.canvas({ padding: 0.3 });
    this.map.setView([22.5, 113.4], 12);
  }

  // The grids' polygons (GeoJSON features of /api/v1/grids); ``only``: the codes to draw (a
  // grid leader's grids), or null for all.
  setGrids(features, only) {
    const keep = only ? new Set(only) : null;
    const shown = features.filter((f) => !keep || keep.has(f.properties.code));
    const group = L.geoJSON(shown, {
      renderer: this.renderer,
      style: () => ({ color: '#56606b', weight: 0.8, fillColor: NO_DATA, fillOpacity: 0.85 }),
      onEachFeature: (feature, layer) => {
        const { code, name } = feature.properties;
        this.layers.set(code, layer);
        this.names.set(code, name || code);
        layer.on('click', () => this.onPick(code, name || code));
        layer.bindTooltip(() => this.tooltip(code, name), { sticky: true });
      },
    }).addTo(this.map);
    if (shown.length) this.map.fitBounds(group.getBounds(), { padding: [8, 8] });
  }

  tooltip(code, name) {
    const value = this.values.get(code);
    const text = `${name || code}: ${value === undefined ? this.words.no_data : this.format(value, this.unit)}`;
    const span = document.createElement('span');
    span.textContent = text;
    return span;
  }

  // Colour every grid by ``indicator`` from the rows of /api/v1/stats/indicators?by=grid.
  show(rows, indicator, meta) {
    this.unit = meta ? meta.unit : 'count';
    this.values = new Map(rows.filter((r) => r[indicator] !== null && r[indicator] !== undefined).map((r) => [r.key, r[indicator]]));
    let scale;
    let colourOf;
    if (indicator === 'grade') {
      scale = Object.entries(GRADES).map(([grade, colour]) => [grade, grade, colour]);
      colourOf = (v) => GRADES[v] || NO_DATA;
    } else {
      scale = classes([...this.values.values()].filter((v) => typeof v === 'number'), WORSE.has(indicator) ? REDS : BLUES);
      colourOf = (v) => {
        const found = scale.find(([, to]) => v <= to + 1e-12);
        return found ? found[2] : NO_DATA;
      };
    }
    for (const [code, layer] of this.layers) {
      const value = this.values.get(code);
      const colour = value === undefined ? NO_DATA : colourOf(value);
      this.colours.set(code, colour);
      layer.setStyle({ fillColor: colour });
    }
    this.drawLegend(meta, scale, indicator);
  }

  drawLegend(meta, scale, indicator) {
    const title = document.createElement('strong');
    title.textContent = meta ? meta.label : indicator;
    const list = document.createElement('ul');
    const item = (colour, text) => {
      const li = document.createElement('li');
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = colour;
      li.append(swatch, text);
      list.append(li);
    };
    for (const [from, to, colour] of scale) {
      item(colour, indicator === 'grade' ? from : from === to ? this.format(from, this.unit) : `${this.format(from, this.unit)} – ${this.format(to, this.unit)}`);
    }
    item(NO_DATA, this.words.no_data);
    const note = document.createElement('small');
    note.textContent = this.words.legend_note;
    this.legend.replaceChildren(title, list, note);
  }

  resize() {
    this.map.invalidateSize();
  }
}
