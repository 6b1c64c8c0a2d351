/*
 * wangge maps: the renovation planner (/maps/planner, maps/planner.py). Leaflet.draw places a
 * point; a form asks for its title and category and stores it with the planner's session (signed
 * in at /login; POST /api/v1/incidents with the CSRF token); stored points are changed and moved
 * with PATCH and If-Match. Not signed in, or not a planner: the page says so and links to /login.
 */

import { request, detailOf, el, lazyPopup, sync, STATE_MARKER, pageMaps, serve } from "./shared.js";

var PlannerMaps = pageMaps();

// What the planner may do here: with the right role, the help; otherwise why not, and a link
// to sign in (the API would refuse the save anyway).
PlannerMaps.prototype.accessControl = function () {
  var self = this;
  var control = L.control({ position: "topright" });
  control.onAdd = function () {
    var box = el("div", { class: "wg-access leaflet-bar" });
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    self.whoAmI().then(function () {
      if (self.mayPlan()) {
        box.appendChild(el("div", { class: "wg-help", text: self.text("planner_help") }));
        return;
      }
      box.appendChild(el("div", { class: "wg-access-note", role: "status", text: self.whyNot() }));
      box.appendChild(self.signInLink(self.me ? "sign_in_other" : "sign_in"));
    });
    return box;
  };
  control.addTo(this.map);
};

PlannerMaps.prototype.mayPlan = function () {
  return this.signedInAs(this.cfg.auth.plannerRoles);
};

PlannerMaps.prototype.whyNot = function () {
  if (!this.me) { return this.text("planner_sign_in"); }
  return this.text("planner_wrong_role", { role: this.text("user_role_" + this.me.role) });
};

PlannerMaps.prototype.renovationForm = function (values, onSubmit, onCancel) {
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
    if (!self.mayPlan()) {
      message.className = "wg-message wg-error";
      message.textContent = self.whyNot() + " ";
      message.appendChild(self.signInLink(self.me ? "sign_in_other" : "sign_in"));
      return;
    }
    if (!title.value.trim()) { message.textContent = self.text("title") + "?"; return; }
    message.className = "wg-message";
    message.textContent = self.text("saving");
    onSubmit({ title: title.value.trim(), category: select.value, description: description.value.trim() || null }, message);
  });
  if (onCancel) { form.querySelector(".wg-cancel").addEventListener("click", onCancel); }
  L.DomEvent.disableClickPropagation(form);
  return form;
};

PlannerMaps.prototype.refuse = function (message, answer) {
  message.className = "wg-message wg-error";
  message.textContent = this.text("refused") + ": " + detailOf(answer);
  if (answer.status === 401) { // the session ended meanwhile
    message.appendChild(document.createTextNode(" "));
    message.appendChild(this.signInLink());
  }
};

PlannerMaps.prototype.pointGeometry = function (layer) {
  var ll = layer.getLatLng();
  return { type: "Point", coordinates: [Number(ll.lng.toFixed(7)), Number(ll.lat.toFixed(7))] };
};

// A stored renovation point: its details and a form that changes it (PATCH with If-Match).
// ``known`` is the feature as the API just answered it (after creating it), shown as it is.
PlannerMaps.prototype.planned = function (layer, id, known) {
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

PlannerMaps.prototype.renovationIcon = function (state) {
  return L.AwesomeMarkers.icon({ icon: this.cfg.icons.kinds.renovation, prefix: "fa", markerColor: STATE_MARKER[state] });
};

PlannerMaps.prototype.loadRenovation = function () {
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

PlannerMaps.prototype.startPlanner = function () {
  var self = this;
  var map = this.map;
  var group = this.layers.renovation;
  this.cells = L.layerGroup().addTo(map);
  this.accessControl();

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
  this.start([this.loadRenovation, this.loadGridTiles], [this.loadRenovation]);
};

serve("planner", PlannerMaps, function (maps) {
  maps.startPlanner();
});
