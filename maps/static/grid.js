/*
 * wangge maps: one grid's map (/maps/grids/{code}, maps/grid.py): its buildings, building heads,
 * grid workers on duty, open incidents, and the patrol coverage of a day.
 *
 * The coverage is asked of the API with the visitor's own sign-in (the session cookie), so the
 * API's access policy decides what comes: for the grid's staff, which buildings were visited and
 * the tracks; for everybody else, the shares only, and the layer says why there is no more.
 */

import { detailOf, el, esc, pageMaps, request, serve } from "./shared.js";

var GridMaps = pageMaps();

GridMaps.prototype.loadGridBuildings = function () {
  var self = this;
  var frame = this.frame;
  this.features("/buildings", { grid: this.cfg.gridOnly }).then(function (features) {
    if (frame !== self.frame) { return; }
    self.layers.buildings.clearLayers();
    self.layers.buildings.addLayer(self.buildingLayer(features));
    self.stats.buildings = features.length;
    self.gridBuildings = { frame: frame, features: features };
    self.drawCoverage();
  });
};

// ---------------------------------------------------------------- patrol coverage

// China's date today (the API's days are China dates), for the date chooser's upper bound.
function chinaToday() {
  return new Date(Date.now() + 8 * 3600 * 1000).toISOString().slice(0, 10);
}

GridMaps.prototype.coverageControl = function () {
  var self = this;
  var control = L.control({ position: "bottomleft" });
  var input = el("input", { type: "date", id: "wg-coverage-date", max: chinaToday() });
  var box = el("div", { class: "wg-coverage leaflet-bar", id: "wg-coverage" }, [
    el("label", { for: "wg-coverage-date" }, [
      el("b", { text: this.text("coverage") }), document.createTextNode(" " + this.text("coverage_date") + " ")
    ]),
    input,
    el("div", { class: "wg-coverage-summary", role: "status" }),
    el("div", { class: "wg-coverage-note" })
  ]);
  control.onAdd = function () {
    L.DomEvent.disableClickPropagation(box);
    return box;
  };
  input.value = this.cfg.coverage.date || "";
  input.addEventListener("change", function () {
    if (!input.value) { return; }
    self.coverageDate = input.value;
    if (window.history && window.history.replaceState) {
      var url = new URL(window.location.href);
      url.searchParams.set("date", input.value);
      window.history.replaceState(null, "", url.toString());
    }
    self.loadCoverage();
  });
  control.addTo(this.map);
  this.coverageBox = { input: input, summary: box.querySelector(".wg-coverage-summary"), note: box.querySelector(".wg-coverage-note") };
};

GridMaps.prototype.loadCoverage = function () {
  var self = this;
  var frame = this.frame;
  var seq = this.coverageSeq = (this.coverageSeq || 0) + 1;
  var url = this.api("/grids/" + encodeURIComponent(this.cfg.gridOnly) + "/coverage", { date: this.coverageDate });
  this.busy(1);
  // Same-origin, with the session cookie: the API answers for whoever is signed in.
  return request(url, { credentials: "same-origin" }).then(function (answer) {
    self.busy(-1);
    if (seq !== self.coverageSeq || frame !== self.frame) { return; }
    if (!answer.ok) {
      self.coverageBox.summary.textContent = self.text("load_failed") + ": " + detailOf(answer);
      return;
    }
    self.coverage = { frame: frame, data: answer.body };
    self.drawCoverage();
  });
};

GridMaps.prototype.coverageState = function (code, visited, stale) {
  return visited[code] ? "visited" : stale[code] ? "stale" : "unvisited";
};

GridMaps.prototype.coverageStyle = function (state) {
  var colours = this.cfg.coverage.colours;
  var stale = state === "stale";
  return {
    color: stale ? colours.stale : "#333", weight: stale ? 3 : 1, opacity: 1,
    fillColor: colours[state], fillOpacity: 0.85, className: "wg-coverage-" + state
  };
};

GridMaps.prototype.showCoverageSummary = function (c) {
  var box = this.coverageBox;
  var share = Math.round((c.share || 0) * 100) + "%";
  box.input.value = c.end;
  box.summary.textContent = (c.start === c.end ? "" : c.start + " – " + c.end + " · ") + this.text("coverage_summary", {
    visited: c.visited, buildings: c.buildings, share: share, stale: c.stale, days: c.stale_days
  });
  box.note.replaceChildren();
  if (c.visited_buildings) { return; }
  // The API left the details out: say why, and how to see them if one may.
  var self = this;
  this.whoAmI().then(function (me) {
    box.note.textContent = self.text(me ? "coverage_details_hidden" : "coverage_details_sign_in") + " ";
    if (!me) { box.note.appendChild(self.signInLink()); }
  });
};

// Each building of the grid in the colour of its coverage, and the period's tracks; drawn once
// both the buildings and the coverage of the map's frame are there.
GridMaps.prototype.drawCoverage = function () {
  var self = this;
  var c = this.coverage;
  var b = this.gridBuildings;
  if (!c || !b || c.frame !== this.frame || b.frame !== this.frame) { return; }
  var data = c.data;
  this.layers.coverage.clearLayers();
  this.layers.tracks.clearLayers();
  this.showCoverageSummary(data);
  this.stats.coverage = { date: data.end, buildings: data.buildings, visited: data.visited, detailed: !!data.visited_buildings };
  if (!data.visited_buildings) { return; }
  var visited = {};
  var stale = {};
  data.visited_buildings.forEach(function (code) { visited[code] = true; });
  (data.stale_buildings || []).forEach(function (s) { stale[s.code] = s; });
  var labels = { visited: this.text("coverage_visited"), unvisited: this.text("coverage_unvisited"), stale: this.text("coverage_stale", { days: data.stale_days }) };
  this.layers.coverage.addLayer(L.geoJSON({ type: "FeatureCollection", features: b.features }, {
    style: function (f) { return self.coverageStyle(self.coverageState(f.properties.code, visited, stale)); },
    pointToLayer: function (f, latlng) {
      return L.circleMarker(latlng, Object.assign({ radius: 6 }, self.coverageStyle(self.coverageState(f.properties.code, visited, stale))));
    },
    onEachFeature: function (f, l) {
      var p = f.properties;
      var state = self.coverageState(p.code, visited, stale);
      var last = stale[p.code] ? " · " + self.text("coverage_last_visited") + " " + (stale[p.code].last_visited || self.text("coverage_never")) : "";
      l.wgCoverage = { code: p.code, state: state };
      l.bindTooltip(esc(p.name) + " · " + esc(labels[state]) + esc(last));
    }
  }));
  this.layers.tracks.addLayer(L.geoJSON(data.tracks || { type: "FeatureCollection", features: [] }, {
    style: { color: this.cfg.coverage.colours.track, weight: 4, opacity: 0.8 },
    onEachFeature: function (f, l) {
      var p = f.properties || {};
      var km = p.distance_m !== undefined && p.distance_m !== null ? " · " + self.text("distance") + " " + (p.distance_m / 1000).toFixed(2) + " " + self.text("km") : "";
      l.bindTooltip(esc(self.text("track_of") + " " + (p.code || "")) + " · " + esc(p.responder_name || p.responder || "") + esc(km), { sticky: true });
    }
  }));
  this.stats.tracks = (data.tracks && data.tracks.features || []).length;
};


GridMaps.prototype.responderMarker = function (f, latlng) {
  var p = f.properties;
  var look = this.cfg.icons.roles[p.role] || ["user", "cadetblue"];
  var marker = L.marker(latlng, { icon: L.AwesomeMarkers.icon({ icon: look[0], prefix: "fa", markerColor: look[1] }) });
  marker.bindTooltip(esc(p.name));
  marker.bindPopup("<div class='wg-popup'><h6><i class='fa fa-" + look[0] + "'></i> " + esc(p.name) + "</h6>" + this.table([
    [this.text("role"), this.cfg.labels.roles[p.role] || p.role], [this.text("organisation"), p.organisation],
    [this.text("buildings"), p.building], [this.text("duty"), p.on_duty ? this.text("yes") : this.text("no")],
    // In full to those who must call them (tel: link), masked to others (the API decides).
    [this.text("phone"), p.phone && p.phone.indexOf("*") < 0 ? "<a href='tel:" + esc(p.phone) + "'>" + esc(p.phone) + "</a>" : esc(p.phone), true]
  ]) + "</div>");
  return marker;
};

GridMaps.prototype.loadGridResponders = function () {
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

serve("grid", GridMaps, function (maps) {
  maps.coverageDate = maps.cfg.coverage.date;
  maps.coverageControl();
  maps.map.on("overlayadd", function (e) {
    if (e.layer === maps.layers.components) { maps.loadComponentsInView(); }
  });
  maps.start(
    [maps.loadIncidents, maps.loadGrids, maps.loadGridBuildings, maps.loadGridResponders, maps.loadCoverage, maps.loadComponentsInView],
    [maps.loadIncidents, maps.loadComponentsInView]
  );
});
