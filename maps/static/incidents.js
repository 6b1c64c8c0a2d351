/*
 * wangge maps: the incident map (/maps/incidents, maps/incidents.py). Grids and estates once,
 * buildings and incidents of the view after every move; when chosen, the grids coloured by the
 * share of their buildings visited by patrols this week.
 */

import { detailOf, esc, pageMaps, request, serve } from "./shared.js";

var IncidentMaps = pageMaps();

var ESTATE_STYLE = { color: "#2e7d32", weight: 1.5, dashArray: "4 3", fillColor: "#66bb6a", fillOpacity: 0.12 };

IncidentMaps.prototype.loadEstates = function () {
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

// Buildings of the view, only when zoomed in far enough to tell them apart.
IncidentMaps.prototype.loadBuildingsInView = function () {
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

// ---------------------------------------------------------------- patrol coverage by grid

// This week in China time (the API's days are China dates): Monday to today.
export function chinaWeek(now) {
  var china = new Date((now === undefined ? Date.now() : now) + 8 * 3600 * 1000);
  var monday = new Date(china.getTime() - ((china.getUTCDay() + 6) % 7) * 86400 * 1000);
  return { start: monday.toISOString().slice(0, 10), end: china.toISOString().slice(0, 10) };
}

IncidentMaps.prototype.shareColour = function (row) {
  if (!row || !row.buildings) { return this.cfg.noBuildingsColour; }
  var classes = this.cfg.shareClasses;
  for (var i = 0; i < classes.length; i += 1) {
    if (row.share <= classes[i][0]) { return classes[i][1]; }
  }
  return classes[classes.length - 1][1];
};

// Read only while the layer is shown: the grids of the map's frame and this week's shares.
IncidentMaps.prototype.loadCoverage = function () {
  var self = this;
  var group = this.layers.coverage;
  if (!this.map.hasLayer(group)) { return; }
  var frame = this.frame;
  var week = chinaWeek();
  var seq = this.coverageSeq = (this.coverageSeq || 0) + 1;
  this.busy(1);
  var shares = request(this.api("/coverage", { start: week.start, end: week.end, by: "grid" }), { credentials: "same-origin" });
  return Promise.all([this.features("/grids", {}), shares]).then(function (got) {
    self.busy(-1);
    if (seq !== self.coverageSeq || frame !== self.frame) { return; }
    var answer = got[1];
    if (!answer.ok) { self.status.set(self.text("load_failed") + ": " + detailOf(answer), true); return; }
    var rows = {};
    answer.body.rows.forEach(function (r) { rows[r.grid] = r; });
    group.clearLayers();
    group.addLayer(L.geoJSON({ type: "FeatureCollection", features: got[0] }, {
      style: function (f) {
        return { color: "#555", weight: 1, fillColor: self.shareColour(rows[f.properties.code]), fillOpacity: 0.7 };
      },
      onEachFeature: function (f, l) {
        var r = rows[f.properties.code];
        l.wgShare = r ? r.share : null;
        var text = !r || !r.buildings ? self.text("coverage_no_buildings") : self.text("coverage_grid_popup", {
          visited: r.visited, buildings: r.buildings, share: Math.round(r.share * 100) + "%", stale: r.stale, days: self.cfg.staleDays
        });
        l.bindTooltip("<b>" + esc(f.properties.name) + "</b><br>" + esc(self.text("coverage_week", week)) + "<br>" + esc(text), { sticky: true });
      }
    }));
    self.stats.coverage = { start: answer.body.start, end: answer.body.end, grids: answer.body.rows.length };
    document.documentElement.setAttribute("data-wangge-coverage", String(answer.body.rows.length));
  });
};

serve("incidents", IncidentMaps, function (maps) {
  maps.map.on("overlayadd", function (e) {
    if (e.layer === maps.layers.buildings) { maps.loadBuildingsInView(); }
    if (e.layer === maps.layers.coverage) { maps.loadCoverage(); }
    if (e.layer === maps.layers.components) { maps.loadComponentsInView(); }
  });
  maps.start(
    [maps.loadIncidents, maps.loadGrids, maps.loadEstates, maps.loadBuildingsInView, maps.loadCoverage, maps.loadComponentsInView],
    [maps.loadIncidents, maps.loadBuildingsInView, maps.loadComponentsInView]
  );
});
