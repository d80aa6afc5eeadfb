// Meta's insights on an account's analytics page (templates/analytics/_insights.html): three charts drawn with
// the vendored Chart.js from the JSON the partial embeds with json_script (#insights-data). No inline script (the
// CSP refuses them); without this script the same figures stay readable in the table under the charts.
(function () {
  "use strict";

  // Which stored metrics each canvas shows, how, and in which colour.
  var CHARTS = {
    followers: [
      { metric: "followers_count", type: "line", color: "#7c3aed", axis: "y" },
      { metric: "follower_count", type: "bar", color: "#c4b5fd", axis: "y1" }
    ],
    reach: [
      { metric: "reach", type: "line", color: "#2e90fa", axis: "y" },
      { metric: "views", type: "line", color: "#12b76a", axis: "y" }
    ],
    activity: [
      { metric: "accounts_engaged", type: "bar", color: "#f79009", axis: "y" },
      { metric: "total_interactions", type: "bar", color: "#ee46bc", axis: "y" },
      { metric: "profile_links_taps", type: "bar", color: "#15b79e", axis: "y" }
    ]
  };

  function shortDay(label) {
    var match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(label);
    return match ? parseInt(match[3], 10) + "/" + parseInt(match[2], 10) : label;
  }

  function draw(canvas, lines, data) {
    var datasets = [];
    var usesRight = false;
    lines.forEach(function (line) {
      var values = data.series[line.metric];
      if (!values || !values.some(function (value) { return value !== null; })) return;
      if (line.axis === "y1") usesRight = true;
      datasets.push({
        type: line.type,
        label: data.labels[line.metric] || line.metric,
        data: values,
        yAxisID: line.axis,
        backgroundColor: line.color,
        borderColor: line.color,
        borderWidth: line.type === "line" ? 2 : 0,
        pointRadius: line.type === "line" ? (values.length > 40 ? 0 : 2) : undefined,
        spanGaps: true
      });
    });
    var figure = canvas.closest("figure");
    if (!datasets.length) {
      if (figure) figure.hidden = true;  // nothing stored for this chart in the period
      return null;
    }
    var scales = {
      x: { grid: { display: false }, ticks: { maxRotation: 0 } },
      y: { beginAtZero: lines[0].metric !== "followers_count", ticks: { precision: 0 } }
    };
    if (usesRight) scales.y1 = { position: "right", beginAtZero: true, grid: { display: false }, ticks: { precision: 0 } };
    return new window.Chart(canvas, {
      type: "bar",
      data: { labels: data.days.map(shortDay), datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
        scales: scales
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var source = document.getElementById("insights-data");
    if (!source || !window.Chart) return;
    var data = JSON.parse(source.textContent);
    document.querySelectorAll("canvas[data-insights-chart]").forEach(function (canvas) {
      var lines = CHARTS[canvas.getAttribute("data-insights-chart")];
      if (lines) draw(canvas, lines, data);
    });
  });
})();
