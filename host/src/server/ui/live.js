// petri dashboard: live states. A run page follows /ui/events?run=ID (Server-Sent Events, the
// session's cookie authenticates it) and updates every badge keyed `sample/stage` or `run`, and
// the DAG's boxes; the runs list follows /ui/events and updates each run's status and trigger,
// adding new runs at the top when it is unfiltered (`data-runs="all"`). No reload either way.
(function () {
  "use strict";
  var script = document.currentScript;
  var run = script && script.getAttribute("data-run");
  var list = script && script.getAttribute("data-runs");
  if (!window.EventSource) {
    return;
  }
  if (list) {
    runsList(list === "all");
    return;
  }
  if (!run) {
    return;
  }
  var source = new EventSource("/ui/events?run=" + encodeURIComponent(run));
  var finals = ["COMPLETED", "FAILED", "CANCELLED"];
  var shown = document.querySelector("[data-key=run]");
  // A run that had ended when the page was made needs no reload.
  var endedOnPage = shown !== null && finals.indexOf(shown.textContent) >= 0;

  function set(key, status) {
    var badges = document.querySelectorAll("[data-key]");
    for (var i = 0; i < badges.length; i++) {
      if (badges[i].getAttribute("data-key") === key) {
        badges[i].className = "st " + status;
        badges[i].textContent = status;
      }
    }
  }

  function setNode(stage, status) {
    var nodes = document.querySelectorAll("[data-node]");
    for (var i = 0; i < nodes.length; i++) {
      if (nodes[i].getAttribute("data-node") === stage) {
        nodes[i].className = "node " + status;
      }
    }
  }

  source.addEventListener("stage", function (e) {
    var s = JSON.parse(e.data);
    if (s.run_id !== run) {
      return;
    }
    set(s.sample + "/" + s.stage, s.status);
    setNode(s.stage, s.status);
  });

  source.addEventListener("run", function (e) {
    var r = JSON.parse(e.data);
    if (r.run_id !== run) {
      return;
    }
    set("run", r.status);
    var note = document.getElementById("live-note");
    if (finals.indexOf(r.status) >= 0 && !endedOnPage && note) {
      note.textContent = "The run ended: reload for its outputs, logs and provenance.";
    }
  });

  source.addEventListener("synced", function () {
    document.body.setAttribute("data-live", "synced");
  });

  // The runs list: one row per run, its status badge keyed `status-ID`, its
  // trigger in the cell `data-trigger=ID`. Text only: nothing is parsed as HTML.
  function runsList(adds) {
    var events = new EventSource("/ui/events");
    var body = document.querySelector("#runs tbody");

    function find(attr, id) {
      var all = document.querySelectorAll("[" + attr + "]");
      for (var i = 0; i < all.length; i++) {
        if (all[i].getAttribute(attr) === id) {
          return all[i];
        }
      }
      return null;
    }

    function cell(row, child) {
      var td = document.createElement("td");
      if (child) {
        td.appendChild(child);
      }
      row.appendChild(td);
      return td;
    }

    function span(attr, value, cls, text) {
      var s = document.createElement("span");
      s.setAttribute(attr, value);
      s.className = cls;
      s.textContent = text;
      return s;
    }

    // The row of run `id`, added at the top if the list shows every run (a
    // row added by its trigger event gets its pipeline and group from its run event).
    function row(id, status, pipeline, group) {
      var known = find("data-trigger", id);
      var tr0 = known && known.closest("tr");
      if (tr0 && pipeline && tr0.cells[2].textContent === "") {
        tr0.cells[2].textContent = pipeline;
        tr0.cells[3].textContent = group;
      }
      if (known || !adds || !body) {
        return;
      }
      var tr = document.createElement("tr");
      var a = document.createElement("a");
      a.href = "/ui/runs/" + encodeURIComponent(id);
      a.textContent = id;
      cell(tr, a);
      cell(tr, span("data-key", "status-" + id, "st " + status, status));
      cell(tr).textContent = pipeline;
      cell(tr).textContent = group;
      cell(tr, span("data-trigger", id, "mono", ""));
      cell(tr);
      cell(tr);
      cell(tr);
      body.insertBefore(tr, body.firstChild);
    }

    events.addEventListener("trigger", function (e) {
      var t = JSON.parse(e.data);
      row(t.run_id, "PENDING", "", "");
      var c = find("data-trigger", t.run_id);
      if (c) {
        c.textContent = t.trigger;
      }
    });

    events.addEventListener("run", function (e) {
      var r = JSON.parse(e.data);
      row(r.run_id, r.status, r.pipeline, r.group);
      var b = find("data-key", "status-" + r.run_id);
      if (b) {
        b.className = "st " + r.status;
        b.textContent = r.status;
      }
    });

    events.addEventListener("synced", function () {
      document.body.setAttribute("data-live", "synced");
    });
  }
})();
