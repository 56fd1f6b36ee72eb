/* demon's web UI: draws each check's history with uPlot from its JSON block, filters the datasets table,
   and (in the one-file report) draws the charts of the page the address's fragment shows. Data is only
   ever read with JSON.parse and written with textContent: never turned into markup or code. */
(function () {
  "use strict";

  var OUTCOMES = { p: "pass", w: "warn", f: "fail", e: "error" };
  var TIMELINE = 60;  // outcome cells per check
  var DURATIONS = [["w", 604800], ["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function duration(seconds) {
    if (seconds == null) return "";
    var rest = Math.abs(seconds);
    for (var i = 0; i < DURATIONS.length; i++) {
      if (rest >= DURATIONS[i][1]) return (seconds < 0 ? "-" : "") + +(rest / DURATIONS[i][1]).toFixed(1) + DURATIONS[i][0];
    }
    return seconds.toFixed(1) + "s";
  }

  function number(value) {
    if (value == null) return "";
    var abs = Math.abs(value);
    if (abs >= 1e9) return +(value / 1e9).toFixed(2) + "G";
    if (abs >= 1e6) return +(value / 1e6).toFixed(2) + "M";
    if (abs >= 1e4) return +(value / 1e3).toFixed(1) + "k";
    return String(+value.toFixed(3));
  }

  function column(value, length) {
    if (Array.isArray(value)) return value;
    var out = new Array(length);
    for (var i = 0; i < length; i++) out[i] = value;
    return out;
  }

  function times(data) {
    var out = [data.t0];
    for (var i = 0; i < data.dt.length; i++) out.push(out[i] + data.dt[i]);
    return out;
  }

  function timeline(element, data, t, fmt) {
    // Newest TIMELINE runs; the height tells the outcome apart without colour (see ui.css).
    var start = Math.max(0, data.o.length - TIMELINE);
    for (var i = start; i < data.o.length; i++) {
      var cell = document.createElement("span");
      var outcome = OUTCOMES[data.o[i]] || "none";
      cell.className = "cell o-" + outcome;
      cell.title = new Date(t[i] * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC: " + outcome +
        " (" + fmt(data.v[i]) + ")";
      element.appendChild(cell);
    }
  }

  function build(data, t, width) {
    var n = t.length;
    var fmt = data.unit === "seconds" ? duration : number;
    var columns = [t, data.v];
    var series = [{}, { label: "value", stroke: css("--accent"), width: 2, value: function (u, v) { return fmt(v); },
      points: { show: n < 60, size: 4 } }];
    var bands = [];
    var th = data.th || {};
    if ("expected_max" in th && "expected_min" in th) {
      columns.push(column(th.expected_max, n), column(th.expected_min, n));
      ["expected max", "expected min"].forEach(function (label) {
        series.push({ label: label, stroke: css("--accent"), width: 1, dash: [2, 3], points: { show: false },
          value: function (u, v) { return fmt(v); } });
      });
      bands.push({ series: [columns.length - 2, columns.length - 1], fill: css("--band") });
    }
    Object.keys(th).forEach(function (name) {
      if (name === "expected_min" || name === "expected_max" || name.indexOf("expected_warn") === 0) return;
      var colour = name.indexOf("warn") >= 0 ? css("--warn") : name === "expected" ? css("--muted") : css("--fail");
      columns.push(column(th[name], n));
      series.push({ label: name, stroke: colour, width: 1.2, dash: [6, 4], points: { show: false },
        value: function (u, v) { return fmt(v); } });
    });
    ["w", "f", "e"].forEach(function (code) {
      var marks = data.o.split("").map(function (o, i) { return o === code ? data.v[i] : null; });
      if (!marks.some(function (v) { return v != null; })) return;
      var colour = css("--" + OUTCOMES[code]);
      columns.push(marks);
      series.push({ label: OUTCOMES[code], stroke: colour, fill: colour, width: 0, paths: function () { return null; },
        points: { show: true, size: code === "w" ? 7 : 9, stroke: colour, fill: colour }, value: function (u, v) { return fmt(v); } });
    });
    var axis = { stroke: css("--muted"), grid: { stroke: css("--line"), width: 1 }, ticks: { stroke: css("--line") } };
    var options = {
      width: width, height: 200, series: series, bands: bands,
      scales: { x: { time: true } },
      axes: [axis, Object.assign({}, axis, { size: 60, values: function (u, values) { return values.map(fmt); } })],
      cursor: { drag: { x: false, y: false } },
      legend: { live: true }
    };
    return { options: options, columns: columns };
  }

  function draw(figure) {
    var plot = figure.querySelector(".plot");
    var width = plot.clientWidth;
    if (plot.dataset.drawn || width === 0) return;  // hidden (another page of the report): drawn when shown
    var data = JSON.parse(figure.querySelector("script.chart-data").textContent);
    var t = times(data);
    var built = build(data, t, width);
    plot.uplot = new uPlot(built.options, built.columns, plot);
    var strip = figure.querySelector(".timeline");
    if (!strip.firstChild) timeline(strip, data, t, data.unit === "seconds" ? duration : number);
    plot.dataset.drawn = "1";
  }

  function drawVisible() {
    document.querySelectorAll("figure.chart").forEach(draw);
  }

  function resize() {
    document.querySelectorAll(".plot").forEach(function (plot) {
      if (plot.uplot && plot.clientWidth) plot.uplot.setSize({ width: plot.clientWidth, height: 200 });
    });
  }

  function filters() {
    var table = document.getElementById("datasets");
    if (!table) return;
    var search = document.getElementById("search");
    var selects = ["outcome", "owner", "tag", "source"].map(function (key) {
      return [key, document.getElementById("f-" + key)];
    });
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    var shown = document.getElementById("shown");
    var none = document.getElementById("no-match");
    function apply() {
      var words = search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
      var count = 0;
      rows.forEach(function (row) {
        var ok = words.every(function (word) { return row.dataset.search.indexOf(word) >= 0; });
        selects.forEach(function (pair) {
          var wanted = pair[1].value;
          if (!ok || !wanted) return;
          ok = pair[0] === "tag" ? JSON.parse(row.dataset.tags).indexOf(wanted) >= 0 : row.dataset[pair[0]] === wanted;
        });
        row.hidden = !ok;
        if (ok) count++;
      });
      shown.textContent = count + " of " + rows.length + " datasets";
      none.hidden = count > 0;
    }
    search.addEventListener("input", apply);
    selects.forEach(function (pair) { pair[1].addEventListener("change", apply); });
    apply();
  }

  var timer = null;
  window.addEventListener("resize", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { resize(); drawVisible(); }, 150);
  });
  window.addEventListener("hashchange", function () { drawVisible(); });
  // Colours are read from the stylesheet when a chart is drawn: a switch to dark mode draws them again.
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", function () {
    document.querySelectorAll(".plot").forEach(function (plot) {
      if (plot.uplot) plot.uplot.destroy();
      plot.uplot = null;
      delete plot.dataset.drawn;
    });
    drawVisible();
  });
  filters();
  drawVisible();
  // Opened at a page's address (report.html#ds-orders), the page shows only once `:target` applies: the
  // charts hidden at the first pass are drawn when the page has loaded.
  window.addEventListener("load", function () { drawVisible(); });
})();
