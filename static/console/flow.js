// Flow chart of the monitor page: events/s and bytes/s for the chosen window, from /monitor/<id>/flow/.
// The chart re-reads its data every few seconds while the tab is visible, and at once when it is shown again.
(function () {
  var canvas = document.getElementById("flow-chart");
  if (!canvas) { return; }
  var REFRESH_MS = 5000;
  // Chart.js resizes the canvas after its box changes (a ResizeObserver): until then a narrowed page must clip
  // the old, wider canvas rather than scroll sideways.
  canvas.parentNode.style.position = "relative";
  canvas.parentNode.style.overflow = "hidden";
  var current = "minute";
  var chart = new Chart(canvas, {
    type: "line",
    data: { labels: [], datasets: [
      { label: "events/s", data: [], borderColor: "#007bff", yAxisID: "y", tension: 0.2 },
      { label: "bytes/s", data: [], borderColor: "#28a745", yAxisID: "y1", tension: 0.2 }
    ] },
    options: { animation: false, maintainAspectRatio: false,
      scales: { y: { beginAtZero: true, position: "left" }, y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } } } }
  });
  function load(windowName) {
    fetch(canvas.dataset.url + "?window=" + encodeURIComponent(windowName), { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (windowName !== current) { return; }  // an answer for a window the user has left
        chart.data.labels = (data.labels || []).map(function (t) { return t.substring(11, 19); });
        chart.data.datasets[0].data = data.count || [];
        chart.data.datasets[1].data = data.bytes || [];
        chart.update();
        document.getElementById("flow-empty").hidden = (data.labels || []).length > 0;
        canvas.dataset.loaded = windowName;
        canvas.dataset.total = (data.count || []).reduce(function (a, b) { return a + b; }, 0);
      });
  }
  document.querySelectorAll("#flow-windows button").forEach(function (button) {
    button.addEventListener("click", function () {
      document.querySelectorAll("#flow-windows button").forEach(function (b) { b.classList.remove("active"); });
      button.classList.add("active");
      current = button.dataset.window;
      load(current);
    });
  });
  setInterval(function () { if (!document.hidden) { load(current); } }, REFRESH_MS);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { load(current); } });
  load(current);
})();
