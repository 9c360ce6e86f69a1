// Flow chart of the monitor page: events/s and bytes/s for the chosen window, from /monitor/<id>/flow/.
(function () {
  var canvas = document.getElementById("flow-chart");
  if (!canvas) { return; }
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
        chart.data.labels = (data.labels || []).map(function (t) { return t.substring(11, 19); });
        chart.data.datasets[0].data = data.count || [];
        chart.data.datasets[1].data = data.bytes || [];
        chart.update();
        document.getElementById("flow-empty").hidden = (data.labels || []).length > 0;
        canvas.dataset.loaded = windowName;
      });
  }
  document.querySelectorAll("#flow-windows button").forEach(function (button) {
    button.addEventListener("click", function () {
      document.querySelectorAll("#flow-windows button").forEach(function (b) { b.classList.remove("active"); });
      button.classList.add("active");
      load(button.dataset.window);
    });
  });
  load("minute");
})();
