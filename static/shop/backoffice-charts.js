// Charts of the admin dashboard and the sales report, drawn with Chart.js (static/vendor/chartjs).
// Each <canvas data-chart="ID"> reads its data from the json_script element #ID:
// {type: "line"|"bar", labels: [...], datasets: [{label, data: ["12.50", ...]}], horizontal, currency}.
// No inline script or style: the page's Content-Security-Policy allows neither.
(function () {
  "use strict";
  var COLOURS = ["#417690", "#d9822b", "#1a7f37", "#8250df"];

  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.chart);
    if (!source || typeof window.Chart === "undefined") return;
    var spec = JSON.parse(source.textContent);
    var currency = spec.currency || "";
    var horizontal = !!spec.horizontal;
    var money = function (value) {
      return currency + Number(value).toLocaleString(undefined, { maximumFractionDigits: 2 });
    };
    var datasets = spec.datasets.map(function (set, n) {
      return {
        label: set.label,
        data: set.data.map(Number),
        borderColor: COLOURS[n % COLOURS.length],
        backgroundColor: COLOURS[n % COLOURS.length] + (spec.type === "line" ? "33" : "cc"),
        fill: spec.type === "line" && n === 0,
        tension: 0.2,
        pointRadius: 2,
      };
    });
    var valueAxis = { beginAtZero: true, ticks: { callback: money } };
    var labelAxis = { ticks: { autoSkip: true, maxRotation: 0 } };
    if (horizontal) {
      // Long product names: cut on the axis, whole in the tooltip.
      labelAxis.ticks.callback = function (value) {
        var text = this.getLabelForValue(value);
        return text.length > 14 ? text.slice(0, 13) + "…" : text;
      };
    }
    new window.Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: datasets },
      options: {
        indexAxis: horizontal ? "y" : "x",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { display: datasets.length > 1 },
          tooltip: {
            callbacks: {
              label: function (ctx) {
                return ctx.dataset.label + ": " + money(horizontal ? ctx.parsed.x : ctx.parsed.y);
              },
            },
          },
        },
        scales: horizontal ? { x: valueAxis, y: labelAxis } : { x: labelAxis, y: valueAxis },
      },
    });
    canvas.dataset.drawn = "1";
  }

  function start() {
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
