// petri dashboard: a run page's live states. Follows /ui/events?run=ID (Server-Sent Events,
// the session's cookie authenticates it) and updates every badge keyed `sample/stage` or
// `run`, and the DAG's boxes, without reloading the page.
(function () {
  "use strict";
  var script = document.currentScript;
  var run = script && script.getAttribute("data-run");
  if (!run || !window.EventSource) {
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
})();
