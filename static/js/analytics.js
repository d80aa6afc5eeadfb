// The analytics pages: draw each chart with the vendored Chart.js (static/vendor/chartjs) from the JSON the page
// embeds with json_script (#analytics-data). No inline script: the CSP refuses them. Without this script (or
// without JavaScript) every chart's numbers stay readable in the table under it.
(function () {
  "use strict";

  var COLORS = {
    comment_reply: "#7c3aed", private_reply: "#875bf7", dm: "#2e90fa", publish: "#12b76a",
    succeeded: "#12b76a", failed: "#f04438", denied: "#b42318", unknown: "#98a2b3",
    new_conversation: "#2e90fa", hand_over: "#f79009", flow_completed: "#12b76a", new_lead: "#ee46bc",
    uses: "#7c3aed", sent: "#12b76a", started: "#2e90fa", completed: "#12b76a",
    target: "#d0d5dd", actual: "#7c3aed",
    comment_median: "#7c3aed", comment_p95: "#c4b5fd", dm_median: "#2e90fa", dm_p95: "#93c5fd"
  };
  var PALETTE = ["#f79009", "#fdb022", "#15b79e", "#ee46bc", "#667085", "#875bf7", "#06aed4", "#dd2590",
    "#f63d68", "#4e5ba6", "#b54708", "#099250", "#6172f3"];

  function shortDay(label) {
    var match = /^(\d{4})-(\d{2})-(\d{2})(.*)$/.exec(label);
    if (!match) return label;
    return parseInt(match[3], 10) + "/" + parseInt(match[2], 10) + match[4];
  }

  function colour(key, index) {
    return COLORS[key] || PALETTE[index % PALETTE.length];
  }

  function draw(canvas, chart) {
    var kind = chart.kind;
    var series = chart.series.filter(function (item) {
      return item.data.some(function (value) { return value !== null && value !== 0; });
    });
    var isLine = kind === "line";
    var horizontal = kind === "hbar";
    var stacked = kind === "bar";
    var datasets = series.map(function (item, index) {
      var color = colour(item.key, index);
      return {
        label: item.label,
        data: item.data,
        backgroundColor: color,
        borderColor: color,
        borderWidth: isLine ? 2 : 0,
        pointRadius: isLine ? (item.data.length > 40 ? 0 : 2) : undefined,
        spanGaps: isLine,
        maxBarThickness: horizontal ? 28 : undefined,
        stack: stacked ? "all" : undefined
      };
    });
    var valueAxis = { stacked: stacked, beginAtZero: true, ticks: { precision: chart.unit === "s" ? undefined : 0 } };
    if (chart.unit) valueAxis.title = { display: true, text: chart.unit === "s" ? "seconds" : chart.unit };
    var labelAxis = { stacked: stacked, grid: { display: false }, ticks: { autoSkip: !horizontal, maxRotation: 0 } };
    return new window.Chart(canvas, {
      type: isLine ? "line" : "bar",
      data: { labels: horizontal ? chart.labels : chart.labels.map(shortDay), datasets: datasets },
      options: {
        indexAxis: horizontal ? "y" : "x",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
        scales: horizontal ? { x: valueAxis, y: labelAxis } : { x: labelAxis, y: valueAxis }
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var source = document.getElementById("analytics-data");
    if (!source || !window.Chart) return;
    var data = JSON.parse(source.textContent);
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var chart = data[canvas.getAttribute("data-chart")];
      if (chart) draw(canvas, chart);
    });
  });
})();
