// The account's figures page: draws its charts with Chart.js (vendored in static/vendor/chartjs) from the
// JSON the page embeds with json_script (#figures-data). No inline script: the CSP refuses them.
(function () {
  "use strict";

  var COLORS = {
    succeeded: "#12b76a", failed: "#f04438", denied: "#f79009", unknown: "#98a2b3", pending: "#84adff",
    rate_limit: "#f79009", policy_block: "#b42318", error: "#f04438",
    repeated_text: "#7c3aed", velocity_spike: "#2e90fa", user_burst: "#ee46bc"
  };
  var PALETTE = ["#7c3aed", "#2e90fa", "#12b76a", "#f79009", "#ee46bc", "#15b79e", "#f04438", "#667085", "#875bf7", "#fdb022"];

  function shortDay(iso) {
    var parts = iso.split("-");
    return parseInt(parts[2], 10) + "/" + parseInt(parts[1], 10);
  }

  function draw(canvas, series, days) {
    var datasets = series
      .filter(function (item) { return item.data.some(function (value) { return value > 0; }); })
      .map(function (item, index) {
        return {
          label: item.label,
          data: item.data,
          backgroundColor: COLORS[item.key] || PALETTE[index % PALETTE.length],
          borderWidth: 0,
          stack: "all"
        };
      });
    return new window.Chart(canvas, {
      type: "bar",
      data: { labels: days.map(shortDay), datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
        scales: {
          x: { stacked: true, grid: { display: false }, ticks: { autoSkip: true, maxRotation: 0 } },
          y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }
        }
      }
    });
  }

  function shortTime(ms) {
    var at = new Date(ms);
    return at.getDate() + "/" + (at.getMonth() + 1) + " " + ("0" + at.getHours()).slice(-2) + ":" + ("0" + at.getMinutes()).slice(-2);
  }

  // The risk score over time: its samples (irregular times, so a linear axis of milliseconds rather than the
  // days' categories), held until the next one (stepped), ending with the current score.
  function drawScore(canvas, points, from) {
    return new window.Chart(canvas, {
      type: "line",
      data: {
        datasets: [{
          label: "Risk score",
          data: points.map(function (point) { return { x: point.t, y: point.score }; }),
          borderColor: COLORS.policy_block,
          backgroundColor: COLORS.policy_block,
          borderWidth: 2,
          pointRadius: points.length > 60 ? 0 : 2,
          stepped: true
        }]
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "nearest", axis: "x", intersect: false },
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 12 } },
          tooltip: { callbacks: { title: function (items) { return shortTime(items[0].parsed.x); } } }
        },
        scales: {
          x: {
            type: "linear",
            min: from,
            grid: { display: false },
            ticks: { autoSkip: true, maxRotation: 0, callback: function (value) { var at = new Date(value); return at.getDate() + "/" + (at.getMonth() + 1); } }
          },
          y: { beginAtZero: true, suggestedMax: 100, ticks: { precision: 0 } }
        }
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var source = document.getElementById("figures-data");
    if (!source || !window.Chart) return;
    var data = JSON.parse(source.textContent);
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var name = canvas.getAttribute("data-chart");
      var series = data[name];
      if (!series) return;
      if (name === "riskScore") drawScore(canvas, series, data.riskFrom);
      else draw(canvas, series, data.days);
    });
  });
})();
