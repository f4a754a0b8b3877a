// Flywheel console: draws every [data-chart] with ECharts and flags <body data-charts-ready> once all
// have rendered (tests and benchmarks wait on it); sends the CSRF token with HTMX writes.
(function () {
  "use strict";
  var charts = [];

  function ready() { document.body.setAttribute("data-charts-ready", ""); }

  function draw(root) {
    var nodes = root.querySelectorAll("[data-chart]");
    document.body.removeAttribute("data-charts-ready");
    charts = charts.filter(function (c) { return !c.isDisposed() && document.body.contains(c.getDom()); });
    var pending = nodes.length;
    if (!pending) { ready(); return; }
    nodes.forEach(function (node) {
      var old = echarts.getInstanceByDom(node);
      if (old) { old.dispose(); }
      var chart = echarts.init(node, null, { renderer: "canvas" });
      var done = false;
      chart.on("finished", function () {
        if (done) { return; }
        done = true;
        pending -= 1;
        if (pending === 0) { ready(); }
      });
      chart.setOption(JSON.parse(node.getAttribute("data-chart")));
      charts.push(chart);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSettle", function (e) { draw(e.detail.target || document); });
  document.addEventListener("htmx:configRequest", function (e) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) { e.detail.headers["X-CSRF-Token"] = meta.getAttribute("content"); }
  });
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
})();
