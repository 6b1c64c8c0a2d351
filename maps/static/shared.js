/*
 * wangge maps: the glue between a folium map and the wangge API, what every map shares.
 *
 * The page holds no features. Grids, estates and buildings are drawn from vector tiles (OGC API
 * Tiles, only those of the view; the grid page reads its one grid as GeoJSON); incidents are read
 * for the visible bounding box after every move (as compact points from /api/v1/incidents/points,
 * or as counts per cell when the view holds too many), clustered here with
 * Leaflet.markercluster; details are read when a marker or a feature is clicked. All coordinates are asked
 * for in the frame of the basemap shown: GCJ-02 under Amap, WGS84 under the others.
 *
 * A native ES module, loaded by each page's own module (incidents.js, grid.js, planner.js), which
 * adds what only that page does and says how it starts (``serve``). folium's inline script runs
 * before any module: it leaves its map and layers in the queue ``window.wanggeMaps`` (see
 * maps/elements.py, Glue), and the page is started from there.
 */

// Icons and colours come from the page's settings (maps/common.py), the one place they are named.
var KIND_ICON = {};
var STATES = ["open", "overdue", "closed"];
export var STATE_MARKER = ["blue", "red", "green"]; // Leaflet.awesome-markers colours
var GRID_STYLE = { color: "#1d4e89", weight: 2, opacity: 0.9, fillColor: "#4f86c6", fillOpacity: 0.06 };
var GRID_FOCUS_STYLE = { color: "#d1495b", weight: 3, opacity: 1, fillColor: "#d1495b", fillOpacity: 0.08 };

export function esc(value) {
  return String(value === null || value === undefined ? "" : value).replace(/[&<>"']/g, function (c) {
    return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
  });
}

export function withQuery(path, params) {
  var parts = [];
  Object.keys(params || {}).forEach(function (key) {
    var value = params[key];
    if (value !== null && value !== undefined && value !== "") {
      parts.push(encodeURIComponent(key) + "=" + encodeURIComponent(value));
    }
  });
  return parts.length ? path + (path.indexOf("?") >= 0 ? "&" : "?") + parts.join("&") : path;
}

export function request(url, options) {
  return fetch(url, options || {}).then(function (response) {
    return response.text().then(function (text) {
      var body = null;
      try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
      return { ok: response.ok, status: response.status, body: body, etag: response.headers.get("ETag") };
    });
  }, function (error) {
    if (error && error.name === "AbortError") { throw error; }
    return { ok: false, status: 0, body: { detail: String(error) }, etag: null };
  });
}

export function detailOf(answer) {
  var detail = answer.body && answer.body.detail;
  return (answer.status ? answer.status + " " : "") + (typeof detail === "string" ? detail : JSON.stringify(detail || ""));
}

export function el(tag, attrs, children) {
  var node = document.createElement(tag);
  Object.keys(attrs || {}).forEach(function (key) {
    if (key === "text") { node.textContent = attrs[key]; } else if (key === "html") { node.innerHTML = attrs[key]; } else { node.setAttribute(key, attrs[key]); }
  });
  (children || []).forEach(function (child) { if (child) { node.appendChild(child); } });
  return node;
}

// A popup whose content is read when it opens (again at every opening: it is never stale).
// ``load(box)`` fills the element and returns a promise.
export function lazyPopup(layer, loadingText, load, options) {
  layer.bindPopup("", options);
  layer.on("popupopen", function (e) {
    var popup = e.popup;
    var box = el("div", { class: "wg-popup", text: loadingText });
    popup.setContent(box);
    Promise.resolve(load(box)).then(function () { if (popup.isOpen()) { popup.update(); } });
  });
}

function formatCount(n) {
  return n >= 10000 ? (Math.round(n / 1000) + "k") : String(n);
}

export function countIcon(count, overdue) {
  var size = count < 1000 ? "small" : "large";
  var extra = overdue ? " wg-has-overdue" : "";
  var px = count < 1000 ? 40 : 46;
  return L.divIcon({
    html: "<div><span>" + formatCount(count) + "</span></div>",
    className: "marker-cluster wg-cluster wg-cluster-" + size + extra,
    iconSize: L.point(px, px)
  });
}

// Clusters count what their markers stand for: one incident, or a whole cell of them.
export function clusterIcon(cluster) {
  var count = 0;
  var overdue = 0;
  cluster.getAllChildMarkers().forEach(function (m) {
    count += m.options.count || 1;
    overdue += m.options.overdue || 0;
  });
  return countIcon(count, overdue);
}

// Make ``group`` hold exactly the markers of ``items`` ([key, make]) without touching markers
// that stay: an open popup stays open when the view moves, and nothing flickers.
export function sync(group, items) {
  var index = group.wgIndex || (group.wgIndex = {});
  var wanted = {};
  var add = [];
  items.forEach(function (item) {
    wanted[item[0]] = true;
    if (!index[item[0]]) {
      index[item[0]] = item[1]();
      add.push(index[item[0]]);
    }
  });
  var remove = [];
  Object.keys(index).forEach(function (key) {
    if (!wanted[key]) {
      remove.push(index[key]);
      delete index[key];
    }
  });
  if (group.removeLayers) {
    group.removeLayers(remove);
    group.addLayers(add);
  } else {
    remove.forEach(function (layer) { group.removeLayer(layer); });
    add.forEach(function (layer) { group.addLayer(layer); });
  }
}

export function Maps(map, cfg, layers, bases) {
  KIND_ICON = cfg.icons.kinds;
  this.map = map;
  this.cfg = cfg;
  this.t = cfg.labels.text;
  this.layers = layers;
  this.bases = bases;
  this.frame = cfg.frame;
  this.seq = 0;
  this.pending = 0;
  this.stats = {};
  this.editing = false;
  this.status = this.statusControl();
  this.watchBasemaps();
  this.watchLabels();
}

Maps.prototype.api = function (path, params) {
  return withQuery(this.cfg.api + path, Object.assign({ crs: this.frame === "wgs84" ? null : this.frame }, params || {}));
};

Maps.prototype.text = function (key, values) {
  var s = this.t[key] || key;
  Object.keys(values || {}).forEach(function (k) { s = s.replace("{" + k + "}", values[k]); });
  return s;
};

Maps.prototype.busy = function (delta) {
  this.pending += delta;
  document.documentElement.setAttribute("data-wangge-pending", String(this.pending));
  if (this.pending === 0 && this.started) {
    document.documentElement.setAttribute("data-wangge-ready", "1");
  }
};

Maps.prototype.statusControl = function () {
  var control = L.control({ position: "bottomleft" });
  var box = el("div", { class: "wg-status leaflet-bar", role: "status" });
  control.onAdd = function () { return box; };
  control.addTo(this.map);
  control.set = function (text, isError) {
    box.textContent = text || "";
    box.style.display = text ? "" : "none";
    box.classList.toggle("wg-error", !!isError);
  };
  control.set("");
  return control;
};

// ---------------------------------------------------------------- basemaps and frames

Maps.prototype.watchBasemaps = function () {
  var self = this;
  this.map.on("baselayerchange", function (e) {
    var found = self.bases.filter(function (b) { return b[0] === e.layer; })[0];
    if (!found) { return; }
    if (window.history && window.history.replaceState) {
      var url = new URL(window.location.href);
      url.searchParams.set("basemap", found[2]);
      window.history.replaceState(null, "", url.toString());
    }
    if (found[1] !== self.frame) {
      self.frame = found[1];
      self.reloadAll();
    }
  });
};

Maps.prototype.watchLabels = function () {
  var map = this.map;
  // Grid labels sit under the markers (Leaflet puts tooltips above everything).
  var pane = map.createPane("wg-labels");
  pane.style.zIndex = 450;
  pane.style.pointerEvents = "none";
  if (window.innerWidth < 600) {
    Array.prototype.forEach.call(document.querySelectorAll(".wg-legend details"), function (d) { d.open = false; });
  }
  var min = this.cfg.labelMinZoom || 0;
  function update() { map.getContainer().classList.toggle("wg-hide-labels", map.getZoom() < min); }
  map.on("zoomend", update);
  update();
};

Maps.prototype.reloadAll = function () {
  var self = this;
  this.reframeTiles();
  (this.loaders || []).forEach(function (load) { load.call(self); });
};

// ``loaders`` run now, the first one alone (the incidents: what people look for first), the
// others when it has answered; ``onMove`` run again after every move of the map.
// The page's module runs once the page is read, when the map may still be moving to its first
// view (folium's fitBounds): then they run when it is there, for that view, and not twice.
Maps.prototype.start = function (loaders, onMove) {
  var self = this;
  var map = this.map;
  this.loaders = loaders;
  this.userControl();
  var begun = false;
  var begin = function () {
    if (begun) { return; }
    begun = true;
    if (self.cfg.tiles) { self.zoomToGrids(); }
    var timer = null;
    map.on("moveend", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { onMove.forEach(function (load) { load.call(self); }); }, 120);
    });
    var rest = function () {
      rest = function () {};
      loaders.slice(1).forEach(function (load) { load.call(self); });
      self.started = true;
      self.busy(0);
    };
    Promise.resolve(loaders[0].call(self)).then(function () { rest(); }, function () { rest(); });
    setTimeout(function () { rest(); }, 1500);
  };
  if (map._animatingZoom || (map._panAnim && map._panAnim._inProgress)) {
    map.once("moveend", begin);
    setTimeout(begin, 1000);
  } else {
    begin();
  }
};

Maps.prototype.bbox = function () {
  var b = this.map.getBounds();
  var clamp = function (v, lo, hi) { return Math.min(hi, Math.max(lo, v)); };
  return [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90), clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -90, 90)]
    .map(function (v) { return v.toFixed(6); }).join(",");
};

// ---------------------------------------------------------------- reading GeoJSON layers

// Every page of a layer (following the API's "next" links), in the current frame.
Maps.prototype.features = function (path, params) {
  var self = this;
  var out = [];
  var pages = 0;
  function page(url) {
    return request(url).then(function (answer) {
      if (!answer.ok) { throw new Error(detailOf(answer)); }
      out = out.concat(answer.body.features || []);
      var next = (answer.body.links || []).filter(function (l) { return l.rel === "next"; })[0];
      pages += 1;
      return next && pages < 20 ? page(next.href) : out;
    });
  }
  self.busy(1);
  return page(this.api(path, Object.assign({ limit: 1000 }, params))).then(function (features) {
    self.busy(-1);
    return features;
  }, function (error) {
    self.busy(-1);
    self.status.set(self.text("load_failed") + ": " + error.message, true);
    return [];
  });
};

Maps.prototype.table = function (rows) {
  return "<table class='wg-table'>" + rows.filter(function (r) { return r[1] !== null && r[1] !== undefined && r[1] !== ""; })
    .map(function (r) { return "<tr><th>" + esc(r[0]) + "</th><td>" + (r[2] ? r[1] : esc(r[1])) + "</td></tr>"; }).join("") + "</table>";
};

Maps.prototype.loadGrids = function () {
  var self = this;
  var group = this.layers.grids;
  var frame = this.frame;
  return this.features("/grids", { grid: this.cfg.gridOnly || null }).then(function (features) {
    if (frame !== self.frame) { return; }
    group.clearLayers();
    features.forEach(function (f) {
      var p = f.properties;
      p.label = p.code + " " + p.name;
      p.style = self.cfg.gridOnly ? GRID_FOCUS_STYLE : GRID_STYLE;
    });
    var layer = L.geoJSON({ type: "FeatureCollection", features: features }, {
      style: function (f) { return f.properties.style; },
      onEachFeature: function (f, l) {
        var p = f.properties;
        l.bindTooltip("<b>" + esc(p.name) + "</b><br><span>" + esc(p.code) + "</span>", {
          permanent: true, direction: "center", className: "wg-grid-label", interactive: false, pane: "wg-labels"
        });
        l.bindPopup("<div class='wg-popup'>" + self.gridHtml(p) + "</div>");
      }
    });
    group.addLayer(layer);
    self.stats.grids = features.length;
  });
};

// ---------------------------------------------------------------- vector tiles (OGC API Tiles)

// Grids, estates and buildings come as vector tiles (/ogc/tiles, one layer per collection), drawn
// by Leaflet.VectorGrid with its SVG renderer (its canvas one loses clicks on Leaflet 1.9): only
// the tiles of the view are read, so a city of 100,000 grids opens as fast as a small one.
var ESTATE_STYLE = { color: "#2e7d32", weight: 1.5, dashArray: "4 3", fill: true, fillColor: "#66bb6a", fillOpacity: 0.12 };
var TILE_STYLES = {
  grids: Object.assign({ fill: true }, GRID_STYLE),
  estates: ESTATE_STYLE,
  buildings: { radius: 5, color: "#555", weight: 1, fill: true, fillColor: "#9e9e9e", fillOpacity: 0.8 }
};
var TILE_FOCUS = { grids: Object.assign({ fill: true }, GRID_FOCUS_STYLE), estates: Object.assign({}, ESTATE_STYLE, { weight: 3 }),
  buildings: Object.assign({}, { radius: 7, color: "#d1495b", weight: 2, fill: true, fillColor: "#d1495b", fillOpacity: 0.8 }) };

// Leaflet 1.9 places a mouse event on a small circle at the circle's own position (getLatLng),
// which the points of vector tiles do not keep: theirs are placed where the mouse is instead.
if (L.VectorGrid && !L.VectorGrid.prototype.wgPointEvents) {
  var createLayer = L.VectorGrid.prototype._createLayer;
  L.VectorGrid.prototype._createLayer = function (feat) {
    var layer = createLayer.apply(this, arguments);
    if (feat.type === 1) { layer.getLatLng = null; }
    return layer;
  };
  L.VectorGrid.prototype.wgPointEvents = true;
}

// The address of one collection's tiles, in the frame of the basemap shown.
Maps.prototype.tileUrl = function (collection) {
  return withQuery(this.cfg.tiles, { collections: collection, crs: this.frame === "wgs84" ? null : this.frame });
};

Maps.prototype.vectorPane = function () {
  if (!this.map.getPane("wg-vector")) {
    var pane = this.map.createPane("wg-vector");
    pane.style.zIndex = 350; // above the basemap's tiles, under the overlays and markers
  }
  return "wg-vector";
};

// A tile layer of ``collection`` (kept in step with the basemap's frame); ``style`` a style or a
// function of the feature's properties.
Maps.prototype.vectorLayer = function (collection, style, options) {
  var styles = {};
  styles[collection] = style || TILE_STYLES[collection];
  options = Object.assign({}, options || {});
  options.minZoom = Math.max(options.minZoom || 0, (this.cfg.tileMinZoom || {})[collection] || 0);
  var layer = L.vectorGrid.protobuf(this.tileUrl(collection), Object.assign({
    pane: this.vectorPane(),
    rendererFactory: L.svg.tile,
    vectorTileLayerStyles: styles,
    interactive: true,
    getFeatureId: function (f) { return f.properties.id; },
    maxZoom: this.map.getMaxZoom(),
    fetchOptions: { credentials: "same-origin" }
  }, options));
  layer.wgCollection = collection;
  layer.wgFrame = this.frame;
  (this.vectorLayers = this.vectorLayers || []).push(layer);
  layer.on("load", function () { document.documentElement.setAttribute("data-wangge-tiles-" + collection, "1"); });
  return layer;
};

// After the basemap's frame changed: every tile layer reads its tiles in the new frame.
Maps.prototype.reframeTiles = function () {
  var self = this;
  (this.vectorLayers || []).forEach(function (layer) {
    if (layer.wgFrame !== self.frame) {
      layer.wgFrame = self.frame;
      layer.setUrl(self.tileUrl(layer.wgCollection));
    }
  });
};

// The features of a tile layer that are drawn now: [{id, properties, path}], one per tile each
// is in (for tests and for finding what is shown).
Maps.prototype.tileFeatures = function (layer) {
  var out = [];
  Object.keys(layer._vectorTiles || {}).forEach(function (key) {
    var features = layer._vectorTiles[key]._features || {};
    Object.keys(features).forEach(function (id) {
      var f = features[id].feature;
      out.push({ id: Number(id), properties: f.properties, path: f._path });
    });
  });
  return out;
};

// One feature of a tile layer stands out (the one clicked or found); the one before goes back.
Maps.prototype.focusFeature = function (layer, id) {
  if (layer.wgFocus !== undefined && layer.wgFocus !== null) { layer.resetFeatureStyle(layer.wgFocus); }
  layer.wgFocus = id;
  if (id !== null && id !== undefined) { layer.setFeatureStyle(id, TILE_FOCUS[layer.wgCollection] || GRID_FOCUS_STYLE); }
};

// A popup at the click whose content is ``html(properties)`` at once, completed by ``more``
// (the record from the API) when given.
Maps.prototype.tilePopup = function (layer, html, more) {
  var self = this;
  layer.on("click", function (e) {
    var p = e.layer && e.layer.properties;
    if (!p) { return; }
    L.DomEvent.stopPropagation(e);
    self.focusFeature(layer, p.id);
    var box = el("div", { class: "wg-popup", html: html(p) });
    box.setAttribute("data-" + layer.wgCollection.replace(/s$/, ""), String(p.id));
    var popup = L.popup({ maxWidth: 320, minWidth: 200 }).setLatLng(e.latlng).setContent(box).openOn(self.map);
    popup.on("remove", function () { if (layer.wgFocus === p.id) { self.focusFeature(layer, null); } });
    if (more) {
      request(self.api(more(p))).then(function (answer) {
        if (answer.ok && answer.body && answer.body.properties) {
          box.innerHTML = html(Object.assign({}, p, answer.body.properties));
          if (popup.isOpen()) { popup.update(); }
        }
      });
    }
  });
  // Names at the mouse (cheap: one tooltip, moved), in place of labels on every grid.
  var tip = null;
  layer.on("mouseover", function (e) {
    var p = e.layer && e.layer.properties;
    if (!p || !p.name) { return; }
    tip = tip || L.tooltip({ sticky: true, direction: "top", offset: [0, -6], className: "wg-tile-tip" });
    tip.setLatLng(e.latlng).setContent(esc(p.name) + (p.code ? " · " + esc(p.code) : ""));
    self.map.openTooltip(tip);
  });
  layer.on("mouseout", function () { if (tip) { self.map.closeTooltip(tip); } });
  return layer;
};

Maps.prototype.gridHtml = function (p) {
  var lang = this.cfg.lang === "en" ? "&lang=en" : "";
  return "<h6>" + esc(p.name) + "</h6>" + this.table([
    [this.text("code"), p.code], [this.text("grid"), p.party_branch]
  ]) + "<a href='/maps/grids/" + encodeURIComponent(p.code) + "?" + lang.slice(1) + "'>" + esc(this.text("grid_title")) + "</a> · " +
    "<a href='/maps/incidents?grid=" + encodeURIComponent(p.code) + lang + "'>" + esc(this.text("incidents_title")) + "</a>";
};

Maps.prototype.buildingHtml = function (p) {
  return "<h6><i class='fa fa-building'></i> " + esc(p.name) + "</h6>" + this.table([
    [this.text("code"), p.code], [this.text("address"), p.address], [this.text("households"), p.households],
    [this.text("residents"), p.residents], [this.text("estates"), p.estate], [this.text("grid"), p.grid]
  ]);
};

Maps.prototype.estateHtml = function (p) {
  return "<h6>" + esc(p.name) + "</h6>" + this.table([[this.text("organisation"), p.property_company]]);
};

// The grids as tiles, from the zoom where there are few enough of them to draw (gridsMinZoom).
Maps.prototype.loadGridTiles = function () {
  var self = this;
  var group = this.layers.grids;
  if (!this.gridTiles) {
    this.gridTiles = this.tilePopup(this.vectorLayer("grids", null, { minZoom: this.cfg.gridsMinZoom || 0 }),
      function (p) { return self.gridHtml(p); }, function (p) { return "/grids/" + p.id; });
    group.addLayer(this.gridTiles);
    this.map.on("zoomend", function () { self.tileHint(); });
  }
  this.reframeTiles();
  this.tileHint();
};

Maps.prototype.tileHint = function () {
  var hidden = this.map.getZoom() < (this.cfg.gridsMinZoom || 0) && this.map.hasLayer(this.layers.grids);
  this.gridHint = hidden;
  document.documentElement.setAttribute("data-wangge-grids-hidden", hidden ? "1" : "0");
};

// A view too far out to draw a city's grids (gridsMinZoom) opens at the zoom where they show.
Maps.prototype.zoomToGrids = function () {
  var min = this.cfg.gridsMinZoom || 0;
  if (this.map.getZoom() < min) { this.map.setView(this.map.getCenter(), min, { animate: false }); }
};

// ---------------------------------------------------------------- search by code

// Grids and buildings by code, asked of the API (the page holds no features to search).
Maps.prototype.searchControl = function () {
  var self = this;
  if (!L.Control.Search) { return; }
  var control = new L.Control.Search({
    position: "topleft", collapsed: true, initial: false, marker: false, minLength: 3, delayType: 300,
    textPlaceholder: this.text("search"), textErr: this.text("search_none"), textCancel: this.text("cancel"),
    sourceData: function (text, answer) { return self.searchCodes(text, answer); },
    formatData: function (records) { return records; },
    moveToLocation: function (found) {
      if (found.wgBounds) { self.map.fitBounds(found.wgBounds, { maxZoom: 18, animate: false }); } else { self.map.setView(found, 18, { animate: false }); }
      if (found.wgGrid && self.gridTiles) {
        var focus = function () { self.focusFeature(self.gridTiles, found.wgGrid); };
        focus();
        self.gridTiles.once("load", focus); // the tiles of the new view are not there yet
      }
      document.documentElement.setAttribute("data-wangge-found", found.wgCode);
    }
  });
  control.addTo(this.map);
  this.search = control;
};

// Records for leaflet-search: "code name" -> the place's position (with its bounds, for grids).
Maps.prototype.searchCodes = function (text, answer) {
  var self = this;
  var code = text.trim();
  var records = {};
  var controller = window.AbortController ? new AbortController() : null;
  var options = controller ? { signal: controller.signal } : {};
  // Only a whole grid code is asked for (the API refuses a grid it does not know).
  var grid = (this.cfg.gridCodeLengths || []).indexOf(code.length) < 0 ? null : request(this.api("/grids", { grid: code, limit: 1 }), options).then(function (got) {
    ((got.ok && got.body && got.body.features) || []).forEach(function (f) {
      var bounds = L.geoJSON(f).getBounds();
      var at = bounds.getCenter();
      at.wgBounds = bounds;
      at.wgGrid = f.id;
      at.wgCode = f.properties.code;
      records[f.properties.code + " " + f.properties.name] = at;
    });
  });
  // Buildings by code, where the service answers features by property (OGC API Features).
  var building = !this.cfg.buildingSearch ? null : request(withQuery(this.cfg.buildingSearch, { code: code, limit: 1, crs: this.frame === "wgs84" ? null : this.frame }), options).then(function (got) {
    ((got.ok && got.body && got.body.features) || []).forEach(function (f) {
      if (!f.geometry || f.properties.code !== code) { return; }
      var at = L.latLng(f.geometry.coordinates[1], f.geometry.coordinates[0]);
      at.wgCode = f.properties.code;
      records[f.properties.code + " " + f.properties.name] = at;
    });
  });
  Promise.all([grid, building]).then(function () { answer(records); }, function () { answer(records); });
  return { abort: function () { if (controller) { controller.abort(); } } };
};

Maps.prototype.buildingLayer = function (features) {
  var self = this;
  return L.geoJSON({ type: "FeatureCollection", features: features }, {
    pointToLayer: function (f, latlng) {
      return L.circleMarker(latlng, { radius: 5, color: "#555", weight: 1, fillColor: "#9e9e9e", fillOpacity: 0.8 });
    },
    onEachFeature: function (f, l) {
      var p = f.properties;
      l.bindTooltip(esc(p.name));
      l.bindPopup("<div class='wg-popup'>" + self.buildingHtml(p) + "</div>");
    }
  });
};

// ---------------------------------------------------------------- components (部件)

// The components of the view, only while their layer is shown (it is off until chosen).
Maps.prototype.loadComponentsInView = function () {
  var self = this;
  var group = this.layers.components;
  if (!group || !this.map.hasLayer(group)) { return; }
  var frame = this.frame;
  var seq = this.componentSeq = (this.componentSeq || 0) + 1;
  return this.features("/components", { bbox: this.bbox(), grid: this.cfg.gridOnly || null }).then(function (features) {
    if (seq !== self.componentSeq || frame !== self.frame) { return; }
    group.clearLayers();
    group.addLayer(self.componentLayer(features));
    self.stats.components = features.length;
  });
};

Maps.prototype.componentLayer = function (features) {
  var self = this;
  var colours = this.cfg.componentColours;
  var states = this.cfg.labels.componentStates;
  return L.geoJSON({ type: "FeatureCollection", features: features }, {
    pointToLayer: function (f, latlng) {
      return L.circleMarker(latlng, { radius: 5, color: "#333", weight: 1, fillColor: colours[f.properties.state] || "#777", fillOpacity: 0.9 });
    },
    onEachFeature: function (f, l) {
      var p = f.properties;
      l.bindTooltip(esc(p.name));
      l.bindPopup("<div class='wg-popup' data-component='" + p.id + "'><h6><i class='fa fa-" + self.cfg.icons.component + "'></i> " + esc(p.name) + "</h6>" + self.table([
        [self.text("code"), p.code], [self.text("component_category"), p.minor_name || p.category],
        [self.text("state"), states[p.state] || p.state], [self.text("department"), p.department], [self.text("grid"), p.grid]
      ]) + "</div>");
    }
  });
};

// ---------------------------------------------------------------- incidents

Maps.prototype.stateOf = function (p) {
  return !p.open ? 2 : p.overdue ? 1 : 0;
};

Maps.prototype.incidentHtml = function (feature) {
  var p = feature.properties;
  var labels = this.cfg.labels;
  var state = this.stateOf(p);
  var lang = this.cfg.lang === "en" ? "en-GB" : "zh-CN";
  var when = function (iso) {
    return iso ? new Date(iso).toLocaleString(lang, { timeZone: "Asia/Shanghai", dateStyle: "medium", timeStyle: "short" }) : null;
  };
  var statusText = (this.cfg.lang === "en" ? ((labels.statuses[p.kind] || {})[p.status] || p.status) : (p.status_label || p.status));
  var assignee = p.assignee ? p.assignee.name + " (" + (labels.roles[p.assignee.role] || p.assignee.role) + ")" : this.text("none");
  var deadline = p.due_at ? when(p.due_at) + (p.overdue ? " <span class='wg-badge wg-state-1'>" + esc(this.text("overdue")) + "</span>" : "") : this.text("none");
  return "<div class='wg-popup' data-incident='" + p.id + "'>" +
    "<h6><i class='fa fa-" + (KIND_ICON[p.kind] || "circle") + "'></i> " + esc(p.title) + "</h6>" +
    this.table([
      [this.text("kind"), (labels.kinds[p.kind] || p.kind) + " · " + ((labels.categories[p.kind] || {})[p.category] || p.category)],
      [this.text("status"), "<span class='wg-badge wg-state-" + state + "'>" + esc(statusText) + "</span> " + esc(this.text(STATES[state])), true],
      [this.text("deadline"), p.due_at ? deadline : esc(deadline), true],
      [this.text("assignee"), assignee],
      [this.text("grid"), p.grid],
      [this.text("components"), p.component ? p.component.name + " " + p.component.code : null],
      [this.text("reported_at"), when(p.created_at)],
      [this.text("description"), p.description]
    ]) + this.photosHtml(p.photos || []) +
    (this.signedInAs(this.cfg.auth.taskRoles)
      ? "<a class='wg-task-link' href='" + esc(this.cfg.auth.task + p.id) + "'>" + esc(this.text("task_page")) + "</a> · "
      : "") +
    "<a class='wg-api-link' href='" + esc(this.cfg.api + "/incidents/" + p.id) + "' target='_blank' rel='noopener'>" + esc(this.text("api_record")) + " #" + p.id + "</a></div>";
};

// The incident's photo thumbnails (copies without EXIF), each opening the full photo.
Maps.prototype.photosHtml = function (photos) {
  var self = this;
  if (!photos.length) { return ""; }
  return "<div class='wg-photos'>" + photos.map(function (ph) {
    return "<a href='" + esc(ph.url) + "' target='_blank' rel='noopener'><img class='wg-photo' src='" + esc(ph.thumbnail_url) +
      "' alt='" + esc(self.text("photo") + " · " + ph.stage) + "' width='64' height='64' style='object-fit:cover;margin:2px'></a>";
  }).join("") + "</div>";
};

// A marker whose popup is read from the API when it opens.
Maps.prototype.incidentMarker = function (id, latlng, kind, state) {
  var self = this;
  var marker = L.marker(latlng, {
    icon: L.AwesomeMarkers.icon({ icon: KIND_ICON[kind] || "circle", prefix: "fa", markerColor: STATE_MARKER[state] }),
    incidentId: id, overdue: state === 1 ? 1 : 0
  });
  lazyPopup(marker, self.text("loading"), function (box) {
    return request(self.api("/incidents/" + id)).then(function (answer) {
      box.innerHTML = answer.ok ? self.incidentHtml(answer.body) : esc(self.text("load_failed") + ": " + detailOf(answer));
    });
  }, { maxWidth: 320, minWidth: 220 });
  return marker;
};

Maps.prototype.cellMarker = function (lon, lat, count, overdue, cell) {
  var map = this.map;
  var marker = L.marker([lat, lon], { icon: countIcon(count, overdue), count: count, overdue: overdue });
  marker.on("click", function () {
    map.fitBounds([[lat - cell, lon - cell], [lat + cell, lon + cell]]);
  });
  return marker;
};

// Incidents of the view: one request for every kind; clustered per kind; the heat map too.
Maps.prototype.loadIncidents = function () {
  var self = this;
  var kinds = this.layers.kinds || {};
  var heat = this.layers.heat;
  var f = this.cfg.filters || {};
  var size = this.map.getSize();
  var b = this.map.getBounds();
  var cell = (b.getEast() - b.getWest()) / Math.max(size.x, 1) * (this.cfg.cellPixels || 64);
  var seq = ++this.seq;
  var frame = this.frame;
  if (this.abort) { this.abort.abort(); }
  this.abort = window.AbortController ? new AbortController() : null;
  this.status.set(this.text("loading"));
  this.busy(1);
  var url = this.api("/incidents/points", {
    bbox: this.bbox(), grid: f.grid, kind: f.kind, status: f.status, since: f.since,
    limit: this.cfg.pointLimit, cell: cell.toPrecision(6)
  });
  return request(url, this.abort ? { signal: this.abort.signal } : {}).then(function (answer) {
    self.busy(-1);
    if (seq !== self.seq || frame !== self.frame) { return; }
    if (!answer.ok) { self.status.set(self.text("load_failed") + ": " + detailOf(answer), true); return; }
    self.showIncidents(answer.body, kinds, heat);
  }, function () { self.busy(-1); });
};

Maps.prototype.showIncidents = function (data, kinds, heat) {
  var self = this;
  var byKind = {};
  var heatPoints = [];
  var maxWeight = 1;
  Object.keys(kinds).forEach(function (k) { byKind[k] = []; });
  if (data.mode === "points") {
    data.points.forEach(function (p) {
      var kind = data.kinds[p[3]];
      if (byKind[kind]) {
        byKind[kind].push([p.join(":"), function () { return self.incidentMarker(p[0], [p[2], p[1]], kind, p[4]); }]);
      }
      heatPoints.push([p[2], p[1], 1]);
    });
  } else {
    data.cells.forEach(function (c) {
      var kind = data.kinds[c[2]];
      if (byKind[kind]) {
        byKind[kind].push(["c:" + c.join(":"), function () { return self.cellMarker(c[0], c[1], c[3], c[4], data.cell); }]);
      }
      heatPoints.push([c[1], c[0], c[3]]);
      maxWeight = Math.max(maxWeight, c[3]);
    });
  }
  Object.keys(kinds).forEach(function (k) { sync(kinds[k], byKind[k]); });
  if (heat) {
    var max = data.mode === "points" ? 1 : maxWeight / 2;
    if (heat._map) {
      heat.setOptions({ max: max });
      heat.setLatLngs(heatPoints);
    } else { // Leaflet.heat redraws on every change, and fails when it is not on the map
      L.setOptions(heat, { max: max });
      heat._latlngs = heatPoints;
    }
  }
  this.stats.incidents = data.numberMatched;
  this.stats.mode = data.mode;
  var buildings = this.layers.buildings;
  var hint = this.buildingHint && buildings && this.map.hasLayer(buildings);
  this.status.set(this.text(data.mode === "points" ? "in_view" : "in_view_cells", { n: data.numberMatched }) +
    (this.gridHint ? " · " + this.text("zoom_for_grids") : hint ? " · " + this.text("zoom_for_buildings") : ""));
  document.documentElement.setAttribute("data-wangge-incidents", String(data.numberMatched));
};

// ---------------------------------------------------------------- who is signed in

// Pages sign in at /login, which keeps an HttpOnly session cookie: every fetch here is
// same-origin and carries it. Writes also send the session's CSRF token (authHeaders).

function cookie(name) {
  var found = document.cookie.split("; ").filter(function (c) { return c.indexOf(name + "=") === 0; })[0];
  return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
}

// The signed-in user (GET /api/v1/auth/me), read once per page; null when not signed in.
Maps.prototype.whoAmI = function () {
  var self = this;
  if (!this.mePromise) {
    // Sign-in sets the readable CSRF cookie next to the HttpOnly session: without it, nobody is
    // signed in, and the page asks nothing (no 401 in the console of every public visit).
    var asked = cookie("wangge_csrf") ? request(this.cfg.auth.me) : Promise.resolve({ ok: false });
    this.mePromise = asked.then(function (answer) {
      self.me = answer.ok && answer.body ? answer.body : null;
      document.documentElement.setAttribute("data-wangge-user", self.me ? self.me.username : "");
      return self.me;
    });
  }
  return this.mePromise;
};

// Whether the signed-in user has one of ``roles`` (lists the page's settings take from the
// access policy).
Maps.prototype.signedInAs = function (roles) {
  return !!(this.me && roles.indexOf(this.me.role) >= 0);
};

// The headers of every write: JSON, and the CSRF token of the session cookie.
Maps.prototype.authHeaders = function (extra) {
  var headers = Object.assign({ "Content-Type": "application/json" }, extra || {});
  var csrf = (this.me && this.me.csrf_token) || cookie("wangge_csrf");
  if (csrf) { headers["X-CSRF-Token"] = csrf; }
  return headers;
};

Maps.prototype.signInUrl = function () {
  return withQuery(this.cfg.auth.login, { next: window.location.pathname + window.location.search, lang: this.cfg.lang === "en" ? "en" : null });
};

Maps.prototype.signInLink = function (key) {
  return el("a", { class: "wg-sign-in", href: this.signInUrl(), text: this.text(key || "sign_in") });
};

// Who is signed in, with a sign-out button; or a link to sign in and come back here.
Maps.prototype.userControl = function () {
  var self = this;
  var control = L.control({ position: "topright" });
  control.onAdd = function () {
    var box = el("div", { class: "wg-user leaflet-bar" });
    L.DomEvent.disableClickPropagation(box);
    self.whoAmI().then(function (me) {
      if (!me) { box.appendChild(self.signInLink()); return; }
      var out = el("button", { type: "button", class: "wg-sign-out", text: self.text("sign_out") });
      out.addEventListener("click", function () {
        request(self.cfg.auth.logout, { method: "POST", headers: self.authHeaders() }).then(function () { window.location.reload(); });
      });
      var role = self.text("user_role_" + me.role);
      box.appendChild(el("span", { class: "wg-user-name", text: self.text("signed_in_as", { name: me.display_name || me.username, role: role }) }));
      box.appendChild(out);
    });
    return box;
  };
  control.addTo(this.map);
};

// ---------------------------------------------------------------- entry points

// Page name -> [constructor, begin(maps)], from each page's module (``serve``).
var starters = {};

export var WanggeMaps = {
  clusterIcon: clusterIcon,
  instances: [],
  start: function (map, cfg, layers, bases) {
    var starter = starters[cfg.page];
    var maps = new starter[0](map, cfg, layers, bases);
    WanggeMaps.instances.push(maps);
    starter[1](maps);
    return maps;
  }
};
window.WanggeMaps = WanggeMaps;

// folium's inline script pushes [map, config, layers, basemaps] onto window.wanggeMaps; whichever
// comes first, the queue or the page's module, each map starts once its page's module is there.
var queue = window.wanggeMaps = window.wanggeMaps || [];

function drain() {
  var i = 0;
  while (i < queue.length) {
    if (queue[i] && queue[i][1] && starters[queue[i][1].page]) {
      WanggeMaps.start.apply(WanggeMaps, queue.splice(i, 1)[0]);
    } else {
      i += 1;
    }
  }
}

queue.push = function () {
  var length = Array.prototype.push.apply(queue, arguments);
  drain();
  return length;
};

// A page's module: ``Kind`` makes its maps (see pageMaps); ``begin(maps)`` sets them going.
export function serve(page, Kind, begin) {
  starters[page] = [Kind, begin];
  drain();
}

// The constructor of one page's maps: every method of Maps, and the page's own on its prototype.
export function pageMaps() {
  function PageMaps(map, cfg, layers, bases) {
    Maps.call(this, map, cfg, layers, bases);
  }
  PageMaps.prototype = Object.create(Maps.prototype);
  PageMaps.prototype.constructor = PageMaps;
  return PageMaps;
}
