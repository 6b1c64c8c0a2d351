/*
 * wangge maps: the glue between a folium map and the wangge API.
 *
 * The page holds no features. Grids and estates are read once; buildings and incidents are read
 * for the visible bounding box after every move (incidents as compact points from
 * /api/v1/incidents/points, or as counts per cell when the view holds too many), clustered here
 * with Leaflet.markercluster; details are read when a marker is clicked. All coordinates are asked
 * for in the frame of the basemap shown: GCJ-02 under Amap, WGS84 under the others.
 */
(function () {
  "use strict";

  // Icons and colours come from the page's settings (maps/common.py), the one place they are named.
  var KIND_ICON = {};
  var ROLE_ICON = {};
  var STATES = ["open", "overdue", "closed"];
  var STATE_MARKER = ["blue", "red", "green"]; // Leaflet.awesome-markers colours
  var GRID_STYLE = { color: "#1d4e89", weight: 2, opacity: 0.9, fillColor: "#4f86c6", fillOpacity: 0.06 };
  var GRID_FOCUS_STYLE = { color: "#d1495b", weight: 3, opacity: 1, fillColor: "#d1495b", fillOpacity: 0.08 };
  var ESTATE_STYLE = { color: "#2e7d32", weight: 1.5, dashArray: "4 3", fillColor: "#66bb6a", fillOpacity: 0.12 };
  var TOKEN_KEY = "wangge.token";

  function esc(value) {
    return String(value === null || value === undefined ? "" : value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function withQuery(path, params) {
    var parts = [];
    Object.keys(params || {}).forEach(function (key) {
      var value = params[key];
      if (value !== null && value !== undefined && value !== "") {
        parts.push(encodeURIComponent(key) + "=" + encodeURIComponent(value));
      }
    });
    return parts.length ? path + (path.indexOf("?") >= 0 ? "&" : "?") + parts.join("&") : path;
  }

  function request(url, options) {
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

  function detailOf(answer) {
    var detail = answer.body && answer.body.detail;
    return (answer.status ? answer.status + " " : "") + (typeof detail === "string" ? detail : JSON.stringify(detail || ""));
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") { node.textContent = attrs[key]; } else if (key === "html") { node.innerHTML = attrs[key]; } else { node.setAttribute(key, attrs[key]); }
    });
    (children || []).forEach(function (child) { if (child) { node.appendChild(child); } });
    return node;
  }

  // A popup whose content is read when it opens (again at every opening: it is never stale).
  // ``load(box)`` fills the element and returns a promise.
  function lazyPopup(layer, loadingText, load, options) {
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

  function countIcon(count, overdue) {
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
  function clusterIcon(cluster) {
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
  function sync(group, items) {
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

  function Maps(map, cfg, layers, bases) {
    KIND_ICON = cfg.icons.kinds;
    ROLE_ICON = cfg.icons.roles;
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
    (this.loaders || []).forEach(function (load) { load.call(self); });
  };

  // ``loaders`` run now, the first one alone (the incidents: what people look for first), the
  // others when it has answered; ``onMove`` run again after every move of the map.
  Maps.prototype.start = function (loaders, onMove) {
    var self = this;
    this.loaders = loaders;
    var timer = null;
    this.map.on("moveend", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { onMove.forEach(function (load) { load.call(self); }); }, 120);
    });
    var rest = function () {
      rest = function () {};
      loaders.slice(1).forEach(function (load) { load.call(self); });
      self.started = true;
      self.busy(0);
    };
    Promise.resolve(loaders[0].call(this)).then(function () { rest(); }, function () { rest(); });
    setTimeout(function () { rest(); }, 1500);
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
          var lang = self.cfg.lang === "en" ? "&lang=en" : "";
          l.bindPopup("<div class='wg-popup'><h6>" + esc(p.name) + "</h6>" + self.table([
            [self.text("code"), p.code], [self.text("grid"), p.party_branch]
          ]) + "<a href='/maps/grids/" + encodeURIComponent(p.code) + "?" + lang.slice(1) + "'>" + esc(self.text("grid_title")) + "</a> · " +
            "<a href='/maps/incidents?grid=" + encodeURIComponent(p.code) + lang + "'>" + esc(self.text("incidents_title")) + "</a></div>");
        }
      });
      group.addLayer(layer);
      self.stats.grids = features.length;
    });
  };

  Maps.prototype.loadEstates = function () {
    var self = this;
    var group = this.layers.estates;
    var frame = this.frame;
    return this.features("/estates", {}).then(function (features) {
      if (frame !== self.frame) { return; }
      group.clearLayers();
      group.addLayer(L.geoJSON({ type: "FeatureCollection", features: features }, {
        style: ESTATE_STYLE,
        onEachFeature: function (f, l) {
          var p = f.properties;
          l.bindTooltip(esc(p.name), { sticky: true });
          l.bindPopup("<div class='wg-popup'><h6>" + esc(p.name) + "</h6>" + self.table([[self.text("organisation"), p.property_company]]) + "</div>");
        }
      }));
      self.stats.estates = features.length;
    });
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
        l.bindPopup("<div class='wg-popup'><h6><i class='fa fa-building'></i> " + esc(p.name) + "</h6>" + self.table([
          [self.text("code"), p.code], [self.text("address"), p.address], [self.text("households"), p.households],
          [self.text("residents"), p.residents], [self.text("estates"), p.estate], [self.text("grid"), p.grid]
        ]) + "</div>");
      }
    });
  };

  // Buildings of the view, only when zoomed in far enough to tell them apart.
  Maps.prototype.loadBuildingsInView = function () {
    var self = this;
    var group = this.layers.buildings;
    if (!this.map.hasLayer(group)) { return; }
    if (this.map.getZoom() < this.cfg.buildingsMinZoom) {
      group.clearLayers();
      this.buildingHint = true;
      return;
    }
    this.buildingHint = false;
    var frame = this.frame;
    var seq = this.buildingSeq = (this.buildingSeq || 0) + 1;
    this.features("/buildings", { bbox: this.bbox(), limit: 2000 }).then(function (features) {
      if (seq !== self.buildingSeq || frame !== self.frame) { return; }
      group.clearLayers();
      group.addLayer(self.buildingLayer(features));
    });
  };

  Maps.prototype.loadGridBuildings = function () {
    var self = this;
    var frame = this.frame;
    this.features("/buildings", { grid: this.cfg.gridOnly }).then(function (features) {
      if (frame !== self.frame) { return; }
      self.layers.buildings.clearLayers();
      self.layers.buildings.addLayer(self.buildingLayer(features));
      self.stats.buildings = features.length;
    });
  };

  Maps.prototype.responderMarker = function (f, latlng) {
    var p = f.properties;
    var look = ROLE_ICON[p.role] || ["user", "cadetblue"];
    var marker = L.marker(latlng, { icon: L.AwesomeMarkers.icon({ icon: look[0], prefix: "fa", markerColor: look[1] }) });
    marker.bindTooltip(esc(p.name));
    marker.bindPopup("<div class='wg-popup'><h6><i class='fa fa-" + look[0] + "'></i> " + esc(p.name) + "</h6>" + this.table([
      [this.text("role"), this.cfg.labels.roles[p.role] || p.role], [this.text("organisation"), p.organisation],
      [this.text("buildings"), p.building], [this.text("duty"), p.on_duty ? this.text("yes") : this.text("no")]
    ]) + "</div>");
    return marker;
  };

  Maps.prototype.loadGridResponders = function () {
    var self = this;
    var frame = this.frame;
    this.features("/responders", { grid: this.cfg.gridOnly }).then(function (features) {
      if (frame !== self.frame) { return; }
      self.layers.heads.clearLayers();
      self.layers.onDuty.clearLayers();
      var heads = 0;
      var onDuty = 0;
      features.forEach(function (f) {
        if (!f.geometry) { return; }
        var c = f.geometry.coordinates;
        var latlng = L.latLng(c[1], c[0]);
        if (f.properties.role === "building_head") {
          self.layers.heads.addLayer(self.responderMarker(f, latlng));
          heads += 1;
        } else if (f.properties.on_duty) {
          self.layers.onDuty.addLayer(self.responderMarker(f, latlng));
          onDuty += 1;
        }
      });
      self.stats.heads = heads;
      self.stats.onDuty = onDuty;
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
        [this.text("reported_at"), when(p.created_at)],
        [this.text("description"), p.description]
      ]) +
      "<a class='wg-api-link' href='" + esc(this.cfg.api + "/incidents/" + p.id) + "' target='_blank' rel='noopener'>" + esc(this.text("api_record")) + " #" + p.id + "</a></div>";
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
      (hint ? " · " + this.text("zoom_for_buildings") : ""));
    document.documentElement.setAttribute("data-wangge-incidents", String(data.numberMatched));
  };

  // ---------------------------------------------------------------- the planner

  Maps.prototype.token = function () {
    try { return window.localStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; }
  };

  Maps.prototype.authHeaders = function (extra) {
    var headers = Object.assign({ "Content-Type": "application/json" }, extra || {});
    var token = this.token();
    if (token) { headers.Authorization = "Bearer " + token; }
    return headers;
  };

  Maps.prototype.tokenControl = function () {
    var self = this;
    var control = L.control({ position: "topright" });
    control.onAdd = function () {
      var input = el("input", { type: "password", class: "wg-token-input", placeholder: self.text("token_placeholder"), autocomplete: "off", "aria-label": self.text("token") });
      var note = el("div", { class: "wg-token-note" });
      var save = el("button", { type: "button", class: "wg-token-save", text: self.text("token_save") });
      var clear = el("button", { type: "button", class: "wg-token-clear", text: self.text("token_clear") });
      function show() {
        var has = !!self.token();
        note.textContent = has ? self.text("token_saved") : self.text("token_none");
        input.value = "";
        input.placeholder = has ? "••••••••" : self.text("token_placeholder");
      }
      save.addEventListener("click", function () {
        if (input.value.trim()) { window.localStorage.setItem(TOKEN_KEY, input.value.trim()); }
        show();
      });
      clear.addEventListener("click", function () { window.localStorage.removeItem(TOKEN_KEY); show(); });
      input.addEventListener("keydown", function (e) { if (e.key === "Enter") { save.click(); } });
      var box = el("div", { class: "wg-token leaflet-bar" }, [
        el("label", { text: self.text("token") }), input, save, clear, note,
        el("div", { class: "wg-help", text: self.text("planner_help") })
      ]);
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      show();
      return box;
    };
    control.addTo(this.map);
  };

  Maps.prototype.renovationForm = function (values, onSubmit, onCancel) {
    var self = this;
    var categories = this.cfg.labels.categories.renovation;
    var select = el("select", { name: "category", class: "wg-category" });
    this.cfg.labels.categoryOrder.renovation.forEach(function (c) {
      var option = el("option", { value: c, text: categories[c] });
      if (values.category === c) { option.selected = true; }
      select.appendChild(option);
    });
    var title = el("input", { name: "title", class: "wg-title", maxlength: "200", required: "required" });
    title.value = values.title || "";
    var description = el("textarea", { name: "description", class: "wg-description", rows: "2", maxlength: "5000" });
    description.value = values.description || "";
    var message = el("div", { class: "wg-message", role: "alert" });
    var form = el("form", { class: "wg-form" }, [
      el("b", { text: values.heading }),
      el("label", { text: self.text("title") }), title,
      el("label", { text: self.text("category") }), select,
      el("label", { text: self.text("description") }), description,
      message,
      el("div", { class: "wg-buttons" }, [
        el("button", { type: "submit", class: "wg-save", text: self.text("save") }),
        onCancel ? el("button", { type: "button", class: "wg-cancel", text: self.text("cancel") }) : null
      ])
    ]);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (!title.value.trim()) { message.textContent = self.text("title") + "?"; return; }
      message.className = "wg-message";
      message.textContent = self.text("saving");
      onSubmit({ title: title.value.trim(), category: select.value, description: description.value.trim() || null }, message);
    });
    if (onCancel) { form.querySelector(".wg-cancel").addEventListener("click", onCancel); }
    L.DomEvent.disableClickPropagation(form);
    return form;
  };

  Maps.prototype.refuse = function (message, answer) {
    message.className = "wg-message wg-error";
    message.textContent = this.text("refused") + ": " + detailOf(answer);
  };

  Maps.prototype.pointGeometry = function (layer) {
    var ll = layer.getLatLng();
    return { type: "Point", coordinates: [Number(ll.lng.toFixed(7)), Number(ll.lat.toFixed(7))] };
  };

  // A stored renovation point: its details and a form that changes it (PATCH with If-Match).
  // ``known`` is the feature as the API just answered it (after creating it), shown as it is.
  Maps.prototype.planned = function (layer, id, known) {
    var self = this;
    layer.wgId = id;
    layer.wgDraft = false;
    layer.closePopup();
    layer.unbindPopup();
    function fill(box, feature) {
      var p = feature.properties;
      box.innerHTML = self.incidentHtml(feature);
      box.appendChild(self.renovationForm({ heading: self.text("edit_point"), title: p.title, category: p.category, description: p.description }, function (values, message) {
        request(self.api("/incidents/" + id), {
          method: "PATCH", headers: self.authHeaders({ "If-Match": layer.wgEtag || "" }),
          body: JSON.stringify({ type: "Feature", properties: values })
        }).then(function (saved) {
          if (!saved.ok) { self.refuse(message, saved); return; }
          layer.wgEtag = saved.etag;
          message.className = "wg-message wg-ok";
          message.textContent = self.text("saved");
          layer.setIcon(self.renovationIcon(self.stateOf(saved.body.properties)));
        });
      }));
    }
    lazyPopup(layer, self.text("loading"), function (box) {
      if (known) {
        fill(box, known);
        known = null;
        return null;
      }
      return request(self.api("/incidents/" + id)).then(function (answer) {
        if (!answer.ok) { box.textContent = self.text("load_failed") + ": " + detailOf(answer); return; }
        layer.wgEtag = answer.etag;
        fill(box, answer.body);
      });
    }, { maxWidth: 320, minWidth: 240 });
  };

  Maps.prototype.renovationIcon = function (state) {
    return L.AwesomeMarkers.icon({ icon: KIND_ICON.renovation, prefix: "fa", markerColor: STATE_MARKER[state] });
  };

  Maps.prototype.loadRenovation = function () {
    var self = this;
    var group = this.layers.renovation;
    if (this.editing) { return; }
    var seq = ++this.seq;
    var frame = this.frame;
    this.busy(1);
    return request(this.api("/incidents/points", { bbox: this.bbox(), kind: "renovation", limit: this.cfg.pointLimit })).then(function (answer) {
      self.busy(-1);
      if (seq !== self.seq || frame !== self.frame || self.editing) { return; }
      if (!answer.ok) { self.status.set(self.text("load_failed") + ": " + detailOf(answer), true); return; }
      var data = answer.body;
      // Keyed by id and state: a point drawn and saved in this page keeps its marker, and
      // unsaved drafts are left alone.
      sync(group, (data.points || []).map(function (p) {
        return [p[0] + ":" + p[4], function () {
          var marker = L.marker([p[2], p[1]], { icon: self.renovationIcon(p[4]) });
          self.planned(marker, p[0]);
          return marker;
        }];
      }));
      sync(self.cells, (data.cells || []).map(function (c) {
        return ["c:" + c.join(":"), function () { return self.cellMarker(c[0], c[1], c[3], c[4], data.cell); }];
      }));
      self.stats.renovation = data.numberMatched;
      self.status.set(self.text(data.mode === "points" ? "renovation_in_view" : "in_view_cells", { n: data.numberMatched }));
      document.documentElement.setAttribute("data-wangge-incidents", String(data.numberMatched));
    }, function () { self.busy(-1); });
  };

  Maps.prototype.startPlanner = function () {
    var self = this;
    var map = this.map;
    var group = this.layers.renovation;
    this.cells = L.layerGroup().addTo(map);
    this.tokenControl();

    map.on(L.Draw.Event.CREATED, function (e) {
      var layer = e.layer;
      if (!(layer instanceof L.Marker)) { return; }
      layer.wgDraft = true;
      layer.setIcon(self.renovationIcon(0));
      var form = self.renovationForm({ heading: self.text("new_point") }, function (values, message) {
        var body = { type: "Feature", geometry: self.pointGeometry(layer), properties: Object.assign({ kind: "renovation" }, values) };
        request(self.api("/incidents"), { method: "POST", headers: self.authHeaders(), body: JSON.stringify(body) }).then(function (answer) {
          if (!answer.ok) { self.refuse(message, answer); return; }
          var state = self.stateOf(answer.body.properties);
          layer.wgEtag = answer.etag;
          self.planned(layer, answer.body.id, answer.body);
          layer.setIcon(self.renovationIcon(state));
          (group.wgIndex || (group.wgIndex = {}))[answer.body.id + ":" + state] = layer;
          layer.openPopup();
          document.documentElement.setAttribute("data-wangge-created", String(answer.body.id));
        });
      }, function () {
        group.removeLayer(layer);
        map.removeLayer(layer);
      });
      // folium's Draw adds the new marker to the group as well; make sure it is there.
      if (!group.hasLayer(layer)) { group.addLayer(layer); }
      layer.bindPopup(form, { maxWidth: 320, minWidth: 240, closeOnClick: false, autoClose: false }).openPopup();
    });

    map.on(L.Draw.Event.EDITSTART, function () {
      self.editing = true;
      // Read the version of every point that may be moved, so a move never overwrites a change
      // somebody else made meanwhile (If-Match).
      group.eachLayer(function (layer) {
        if (layer.wgId && !layer.wgEtag) {
          request(self.api("/incidents/" + layer.wgId)).then(function (answer) { if (answer.ok) { layer.wgEtag = answer.etag; } });
        }
      });
    });
    map.on(L.Draw.Event.EDITSTOP, function () {
      self.editing = false;
    });
    map.on(L.Draw.Event.EDITED, function (e) {
      var saves = [];
      e.layers.eachLayer(function (layer) {
        if (!layer.wgId) { return; }
        saves.push(request(self.api("/incidents/" + layer.wgId), {
          method: "PATCH", headers: self.authHeaders({ "If-Match": layer.wgEtag || "" }),
          body: JSON.stringify({ type: "Feature", geometry: self.pointGeometry(layer) })
        }).then(function (answer) {
          if (answer.ok) { layer.wgEtag = answer.etag; return null; }
          return detailOf(answer);
        }));
      });
      Promise.all(saves).then(function (problems) {
        problems = problems.filter(Boolean);
        if (problems.length) {
          self.status.set(self.text("refused") + ": " + problems[0], true);
        } else if (saves.length) {
          self.status.set(self.text("moved"));
        }
        self.editing = false;
        self.loadRenovation();
      });
    });
    this.start([this.loadRenovation, this.loadGrids], [this.loadRenovation]);
  };

  // ---------------------------------------------------------------- entry points

  var WanggeMaps = {
    clusterIcon: clusterIcon,
    instances: [],
    start: function (map, cfg, layers, bases) {
      var maps = new Maps(map, cfg, layers, bases);
      WanggeMaps.instances.push(maps);
      if (cfg.page === "planner") {
        maps.startPlanner();
      } else if (cfg.page === "grid") {
        maps.start([maps.loadIncidents, maps.loadGrids, maps.loadGridBuildings, maps.loadGridResponders], [maps.loadIncidents]);
      } else {
        map.on("overlayadd", function (e) { if (e.layer === layers.buildings) { maps.loadBuildingsInView(); } });
        maps.start([maps.loadIncidents, maps.loadGrids, maps.loadEstates, maps.loadBuildingsInView], [maps.loadIncidents, maps.loadBuildingsInView]);
      }
      return maps;
    }
  };
  window.WanggeMaps = WanggeMaps;
})();
