/*
 * wangge maps: the incident map (/maps/incidents, maps/incidents.py). Grids and estates once,
 * buildings and incidents of the view after every move.
 */

import { esc, pageMaps, serve } from "./shared.js";

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

serve("incidents", IncidentMaps, function (maps) {
  maps.map.on("overlayadd", function (e) { if (e.layer === maps.layers.buildings) { maps.loadBuildingsInView(); } });
  maps.start([maps.loadIncidents, maps.loadGrids, maps.loadEstates, maps.loadBuildingsInView], [maps.loadIncidents, maps.loadBuildingsInView]);
});
