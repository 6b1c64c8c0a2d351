/*
 * wangge maps: one grid's map (/maps/grids/{code}, maps/grid.py): its buildings, building heads,
 * grid workers on duty and open incidents.
 */

import { esc, pageMaps, serve } from "./shared.js";

var GridMaps = pageMaps();

GridMaps.prototype.loadGridBuildings = function () {
  var self = this;
  var frame = this.frame;
  this.features("/buildings", { grid: this.cfg.gridOnly }).then(function (features) {
    if (frame !== self.frame) { return; }
    self.layers.buildings.clearLayers();
    self.layers.buildings.addLayer(self.buildingLayer(features));
    self.stats.buildings = features.length;
  });
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
  maps.start([maps.loadIncidents, maps.loadGrids, maps.loadGridBuildings, maps.loadGridResponders], [maps.loadIncidents]);
});
