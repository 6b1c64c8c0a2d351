/*
 * wangge maps: the incident map (/maps/incidents, maps/incidents.py). Grids, estates and
 * buildings as vector tiles, incidents of the view after every move; when chosen, the grids
 * coloured by the share of their buildings visited by patrols this week.
 */

import { detailOf, esc, pageMaps, request, serve } from "./shared.js";

var IncidentMaps = pageMaps();

// Estates as tiles; buildings as tiles from the zoom where they can be told apart.
IncidentMaps.prototype.loadEstates = function () {
  var self = this;
  if (!this.estateTiles) {
    this.estateTiles = this.tilePopup(this.vectorLayer("estates"), function (p) { return self.estateHtml(p); },
      function (p) { return "/estates/" + p.id; });
    this.layers.estates.addLayer(this.estateTiles);
  }
};

IncidentMaps.prototype.loadBuildingsInView = function () {
  var self = this;
  if (!this.buildingTiles) {
    this.buildingTiles = this.tilePopup(this.vectorLayer("buildings", null, { minZoom: this.cfg.buildingsMinZoom }),
      function (p) { return self.buildingHtml(p); }, function (p) { return "/buildings/" + p.id; });
    this.layers.buildings.addLayer(this.buildingTiles);
  }
  this.buildingHint = this.map.getZoom() < this.cfg.buildingsMinZoom;
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

// Read only while the layer is shown: this week's shares, which colour the grids' tiles (by code).
IncidentMaps.prototype.loadCoverage = function () {
  var self = this;
  var group = this.layers.coverage;
  if (!this.map.hasLayer(group)) { return; }
  var frame = this.frame;
  var week = chinaWeek();
  var seq = this.coverageSeq = (this.coverageSeq || 0) + 1;
  this.busy(1);
  return request(this.api("/coverage", { start: week.start, end: week.end, by: "grid" }), { credentials: "same-origin" }).then(function (answer) {
    self.busy(-1);
    if (seq !== self.coverageSeq || frame !== self.frame) { return; }
    if (!answer.ok) { self.status.set(self.text("load_failed") + ": " + detailOf(answer), true); return; }
    var rows = self.coverageRows = {};
    answer.body.rows.forEach(function (r) { rows[r.grid] = r; });
    if (!self.coverageTiles) {
      var style = function (p) {
        return { color: "#555", weight: 1, fill: true, fillColor: self.shareColour(self.coverageRows[p.code]), fillOpacity: 0.7 };
      };
      self.coverageTiles = self.vectorLayer("grids", style, { minZoom: self.cfg.gridsMinZoom || 0 });
      self.coverageTiles.on("mouseover", function (e) {
        var p = e.layer && e.layer.properties;
        if (!p) { return; }
        var r = self.coverageRows[p.code];
        var text = !r || !r.buildings ? self.text("coverage_no_buildings") : self.text("coverage_grid_popup", {
          visited: r.visited, buildings: r.buildings, share: Math.round(r.share * 100) + "%", stale: r.stale, days: self.cfg.staleDays
        });
        self.coverageTip = self.coverageTip || L.tooltip({ sticky: true, direction: "top", offset: [0, -6] });
        self.coverageTip.setLatLng(e.latlng).setContent("<b>" + esc(p.name) + "</b><br>" + esc(self.text("coverage_week", week)) + "<br>" + esc(text));
        self.map.openTooltip(self.coverageTip);
      });
      self.coverageTiles.on("mouseout", function () { if (self.coverageTip) { self.map.closeTooltip(self.coverageTip); } });
      group.addLayer(self.coverageTiles);
    } else {
      self.coverageTiles.redraw(); // the tiles drawn take the new shares
    }
    self.stats.coverage = { start: answer.body.start, end: answer.body.end, grids: answer.body.rows.length };
    document.documentElement.setAttribute("data-wangge-coverage", String(answer.body.rows.length));
  });
};

// The share and fill drawn for the grid ``code`` on the coverage layer (null: not drawn).
IncidentMaps.prototype.coverageShown = function (code) {
  if (!this.coverageTiles) { return null; }
  var row = this.coverageRows[code];
  var drawn = this.tileFeatures(this.coverageTiles).filter(function (f) { return f.properties.code === code; })[0];
  return drawn ? [row ? row.share : null, drawn.path.getAttribute("fill")] : null;
};

serve("incidents", IncidentMaps, function (maps) {
  maps.searchControl();
  maps.map.on("overlayadd", function (e) {
    if (e.layer === maps.layers.buildings) { maps.loadBuildingsInView(); }
    if (e.layer === maps.layers.coverage) { maps.loadCoverage(); }
    if (e.layer === maps.layers.components) { maps.loadComponentsInView(); }
  });
  maps.start(
    [maps.loadIncidents, maps.loadGridTiles, maps.loadEstates, maps.loadBuildingsInView, maps.loadCoverage, maps.loadComponentsInView],
    [maps.loadIncidents, maps.loadBuildingsInView, maps.loadComponentsInView]
  );
});
