// sb docs: draws the project document embedded in index.html. Routes live in
// the URL's hash (#/node/<id>, #/dashboard/<name>, #/graph), so the site works
// opened from disk. No network: Plotly is the local assets/plotly.min.js.
(function () {
  "use strict";

  var DOC = JSON.parse(document.getElementById("sb-data").textContent);
  var NODES = DOC.nodes;
  var GRAPH = DOC.graph;
  var BOX_W = 200, BOX_H = 24;
  var PALETTE = ["#E50914", "#F5F5F1", "#54B9C5", "#F5A623", "#46D369", "#B20710",
    "#8C8C8C", "#E87C03", "#9B59B6", "#FF8A8F", "#2E86AB", "#C0C0C0"];
  var byId = {};
  NODES.forEach(function (node, index) { node.index = index; byId[node.id] = node; });

  // ---------------------------------------------------------------- helpers
  function esc(value) {
    return String(value == null ? "" : value)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }
  function el(tag, attrs, html) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (html != null) node.innerHTML = html;
    return node;
  }
  function svg(tag, attrs) {
    var node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    return node;
  }
  function nodeHref(node) { return "#/node/" + encodeURIComponent(node.id); }
  function nodeLink(node) {
    return '<a href="' + nodeHref(node) + '">' + esc(node.label) + "</a>";
  }
  function statusClass(status) {
    if (status === "success" || status === "pass") return "status-good";
    if (status === "warn" || status === "skipped") return "status-warn";
    return "status-bad";
  }
  function testText(test) {
    if (typeof test === "string") return test;
    if (test && typeof test === "object") {
      var name = Object.keys(test)[0];
      var args = test[name];
      if (args == null) return name;
      var parts = [];
      var flat = args.arguments && typeof args.arguments === "object" ? args.arguments : args;
      Object.keys(flat).forEach(function (key) {
        if (key === "config" || key === "arguments") return;
        parts.push(key + ": " + JSON.stringify(flat[key]));
      });
      return name + (parts.length ? "(" + parts.join(", ") + ")" : "");
    }
    return String(test);
  }
  function chips(tests) {
    return (tests || []).map(function (test) {
      return '<span class="test-chip">' + esc(testText(test)) + "</span>";
    }).join("");
  }
  function descriptionHtml(text) {
    if (!text) return '<p class="muted">No description.</p>';
    return text.split(/\n\s*\n/).map(function (p) { return "<p>" + esc(p) + "</p>"; }).join("");
  }

  // ---------------------------------------------------------------- sidebar and search
  var KINDS = [["model", "Models"], ["seed", "Seeds"], ["source", "Sources"], ["test", "Tests"]];
  var sidebar = document.getElementById("sidebar");
  var searchBox = document.getElementById("search");
  var haystack = NODES.map(function (node) {
    return [node.label, node.name, node.description, node.path, (node.tags || []).join(" ")]
      .concat((node.columns || []).map(function (c) { return c.name + " " + (c.description || ""); }))
      .join(" ").toLowerCase();
  });

  function buildSidebar() {
    var html = '<h3>Project</h3><a href="#/">Overview</a><a href="#/graph">Lineage graph</a>';
    if (DOC.dashboards.length) {
      html += "<h3>Dashboards</h3>";
      DOC.dashboards.forEach(function (board) {
        html += '<a href="#/dashboard/' + encodeURIComponent(board.name) + '">' + esc(board.title) + "</a>";
      });
    }
    KINDS.forEach(function (kind) {
      var list = NODES.filter(function (n) { return n.type === kind[0]; })
        .sort(function (a, b) { return a.label < b.label ? -1 : a.label > b.label ? 1 : 0; });
      if (!list.length) return;
      html += "<h3>" + kind[1] + ' <span class="count">' + list.length + "</span></h3>";
      list.forEach(function (node) {
        html += '<a data-node="' + node.index + '" href="' + nodeHref(node) + '" title="' +
          esc(node.path) + '">' + esc(node.label) + "</a>";
      });
    });
    sidebar.innerHTML = html;
  }

  function matches(query) {
    var words = query.toLowerCase().split(/\s+/).filter(Boolean);
    return NODES.filter(function (node, i) {
      return words.every(function (w) { return haystack[i].indexOf(w) >= 0; });
    });
  }

  function filterSidebar() {
    var query = searchBox.value.trim();
    var keep = null;
    if (query) {
      keep = {};
      matches(query).forEach(function (n) { keep[n.index] = true; });
    }
    Array.prototype.forEach.call(sidebar.querySelectorAll("a[data-node]"), function (a) {
      a.classList.toggle("hidden", keep !== null && !keep[a.getAttribute("data-node")]);
    });
  }
  searchBox.addEventListener("input", filterSidebar);
  searchBox.addEventListener("keydown", function (event) {
    if (event.key === "Enter") {
      var query = searchBox.value.trim();
      if (query) location.hash = "#/search/" + encodeURIComponent(query);
    }
  });

  // ---------------------------------------------------------------- lineage graph
  // Draws the laid-out DAG into `container`; `focus` (a node index) lights up
  // its upstream and downstream and centres the view on it.
  function drawGraph(container, focus) {
    var wrap = el("div", { "class": "lineage" + (focus == null ? " tall" : "") });
    container.appendChild(wrap);
    var root = svg("svg", { "id": "lineage-svg" });
    var view = svg("g", {});
    root.appendChild(view);
    wrap.appendChild(root);
    var tools = el("div", { "class": "tools" },
      '<button data-z="in" title="Zoom in">+</button><button data-z="out" title="Zoom out">−</button>' +
      '<button data-z="fit" title="Fit the whole graph">⤢</button>');
    wrap.appendChild(tools);
    wrap.appendChild(el("div", { "class": "legend" },
      '<i style="background:#E50914"></i>model<i style="background:#46D369"></i>seed' +
      '<i style="background:#54B9C5"></i>source · scroll to zoom, drag to pan, click to open'));

    var place = {};
    GRAPH.nodes.forEach(function (entry) { place[entry[0]] = entry; });
    var lit = {}, up = {}, down = {};
    if (focus != null && place[focus]) {
      walk(focus, "parents", up);
      walk(focus, "children", down);
      root.classList.add("dimmed");
    }
    var edgeLayer = svg("g", {});
    var nodeLayer = svg("g", {});
    view.appendChild(edgeLayer);
    view.appendChild(nodeLayer);
    GRAPH.edges.forEach(function (edge) {
      var a = place[edge[0]], b = place[edge[1]];
      if (!a || !b) return;
      var x1 = a[1] + BOX_W, y1 = a[2], x2 = b[1], y2 = b[2], mid = (x1 + x2) / 2;
      var inUp = function (i) { return up[i] || i === focus; };
      var inDown = function (i) { return down[i] || i === focus; };
      var on = focus != null &&
        ((inUp(edge[0]) && inUp(edge[1])) || (inDown(edge[0]) && inDown(edge[1])));
      if (on) lit[edge[0] + ">" + edge[1]] = true;
      edgeLayer.appendChild(svg("path", {
        "class": "edge" + (on ? " lit" : ""),
        d: "M" + x1 + "," + y1 + " C" + mid + "," + y1 + " " + mid + "," + y2 + " " + x2 + "," + y2
      }));
    });
    GRAPH.nodes.forEach(function (entry) {
      var node = NODES[entry[0]];
      var classes = "node " + node.type;
      if (entry[0] === focus) classes += " focus";
      else if (up[entry[0]]) classes += " up";
      else if (down[entry[0]]) classes += " down";
      var group = svg("g", { "class": classes, "data-node": entry[0],
        transform: "translate(" + entry[1] + "," + (entry[2] - BOX_H / 2) + ")" });
      group.appendChild(svg("rect", { width: BOX_W, height: BOX_H, rx: 4 }));
      var text = svg("text", { x: 8, y: 16 });
      var label = node.label.length > 28 ? node.label.slice(0, 27) + "…" : node.label;
      text.textContent = label;
      group.appendChild(text);
      var title = svg("title", {});
      title.textContent = node.label + " (" + node.type + ")";
      group.appendChild(title);
      nodeLayer.appendChild(group);
    });

    // Zoom and pan: one transform on the root group.
    var state = { k: 1, x: 20, y: 20 };
    function apply() {
      view.setAttribute("transform", "translate(" + state.x + "," + state.y + ") scale(" + state.k + ")");
      root.classList.toggle("far", state.k < 0.45);
    }
    function size() {
      var box = root.getBoundingClientRect();
      return { w: box.width || 800, h: box.height || 400 };
    }
    function fit() {
      var s = size();
      var w = GRAPH.width + 40, h = GRAPH.height + 40;
      state.k = Math.min(1.2, Math.max(0.05, Math.min(s.w / w, s.h / h)));
      state.x = (s.w - (GRAPH.width - 60) * state.k) / 2;
      state.y = (s.h - GRAPH.height * state.k) / 2;
      apply();
    }
    function centreOn(index) {
      var s = size(), p = place[index];
      state.k = 1;
      state.x = s.w / 2 - (p[1] + BOX_W / 2);
      state.y = s.h / 2 - p[2];
      apply();
    }
    function zoomAt(factor, cx, cy) {
      var k = Math.min(4, Math.max(0.03, state.k * factor));
      state.x = cx - (cx - state.x) * (k / state.k);
      state.y = cy - (cy - state.y) * (k / state.k);
      state.k = k;
      apply();
    }
    root.addEventListener("wheel", function (event) {
      event.preventDefault();
      var box = root.getBoundingClientRect();
      zoomAt(Math.exp(-event.deltaY * 0.0015), event.clientX - box.left, event.clientY - box.top);
    }, { passive: false });
    var drag = null;
    root.addEventListener("pointerdown", function (event) {
      drag = { x: event.clientX, y: event.clientY, sx: state.x, sy: state.y, moved: false };
    });
    window.addEventListener("pointermove", function (event) {
      if (!drag) return;
      var dx = event.clientX - drag.x, dy = event.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) { drag.moved = true; root.classList.add("dragging"); }
      state.x = drag.sx + dx;
      state.y = drag.sy + dy;
      apply();
    });
    window.addEventListener("pointerup", function (event) {
      if (!drag) return;
      var moved = drag.moved;
      drag = null;
      root.classList.remove("dragging");
      if (moved) return;
      var target = event.target && event.target.closest ? event.target.closest("g.node") : null;
      if (target) location.hash = nodeHref(NODES[Number(target.getAttribute("data-node"))]);
    });
    tools.addEventListener("click", function (event) {
      var what = event.target.getAttribute("data-z");
      var s = size();
      if (what === "in") zoomAt(1.3, s.w / 2, s.h / 2);
      if (what === "out") zoomAt(1 / 1.3, s.w / 2, s.h / 2);
      if (what === "fit") fit();
    });
    // A small graph is shown whole; a large one centred on the focus.
    var whole = size();
    var fitScale = Math.min(whole.w / (GRAPH.width + 40), whole.h / (GRAPH.height + 40));
    if (focus != null && place[focus] && fitScale < 0.6) centreOn(focus); else fit();
    return { nodes: GRAPH.nodes.length, edges: GRAPH.edges.length,
      drawnNodes: nodeLayer.childNodes.length, drawnEdges: edgeLayer.childNodes.length,
      lit: Object.keys(lit).length };
  }

  function walk(start, direction, seen) {
    var stack = [start];
    while (stack.length) {
      var at = stack.pop();
      (NODES[at][direction] || []).forEach(function (next) {
        if (!seen[next]) { seen[next] = true; stack.push(next); }
      });
    }
  }

  // ---------------------------------------------------------------- charts
  function column(data, name) {
    var i = data.columns.indexOf(name);
    return data.rows.map(function (row) { return i < 0 ? null : row[i]; });
  }
  function distinct(values) {
    var seen = new Map();
    values.forEach(function (v) { var key = v == null ? "(null)" : String(v); if (!seen.has(key)) seen.set(key, v); });
    return Array.from(seen.keys());
  }
  function keyOf(v) { return v == null ? "(null)" : String(v); }
  function rowsWhere(data, name, value) {
    if (!name) return data.rows;
    var i = data.columns.indexOf(name);
    return data.rows.filter(function (row) { return keyOf(row[i]) === value; });
  }
  function sub(data, rows) { return { columns: data.columns, rows: rows }; }
  function sortedBy(data, name) {
    var i = data.columns.indexOf(name);
    var rows = data.rows.slice();
    rows.sort(function (a, b) { return a[i] < b[i] ? -1 : a[i] > b[i] ? 1 : 0; });
    return sub(data, rows);
  }

  function axisStyle(title) {
    return { title: { text: title || "" }, gridcolor: "#2a2a2a", zerolinecolor: "#444",
      linecolor: "#444", tickfont: { color: "#bdbdbd" }, automargin: true };
  }

  // Builds Plotly traces and layout for one chart from its rows.
  function figure(chart) {
    var data = chart.data;
    var traces = [];
    var round = chart.type === "pie" || chart.type === "donut";
    var axes = !round && chart.type !== "table";
    var facets = chart.facet ? distinct(column(data, chart.facet)).slice(0, 12) : [null];
    var cols = Math.min(facets.length, round ? 3 : 2);
    var rowsN = Math.ceil(facets.length / cols);
    var layout = {
      paper_bgcolor: "#1c1c1c", plot_bgcolor: "#141414",
      font: { color: "#e5e5e5", family: "Helvetica Neue, Arial, sans-serif", size: 12 },
      colorway: PALETTE,
      height: rowsN > 1 ? Math.round(chart.height * 0.7 * rowsN) : chart.height,
      margin: { l: 50, r: 20, t: facets.length > 1 ? 30 : 20, b: 50 },
      legend: { orientation: "h", y: rowsN > 1 ? -0.08 : -0.18, font: { color: "#cfcfcf" } },
      hoverlabel: { bgcolor: "#0b0b0b", bordercolor: "#E50914", font: { color: "#fff" } },
      barmode: chart.stacked ? "stack" : "group",
      showlegend: true,
      annotations: []
    };
    // One colour per series name (or pie slice) across every facet.
    var colours = {};
    var colourOf = function (name) {
      if (!(name in colours)) colours[name] = PALETTE[Object.keys(colours).length % PALETTE.length];
      return colours[name];
    };
    if (round) distinct(column(data, chart.x)).forEach(colourOf);
    var legendSeen = {};
    var gapX = 0.08, gapY = rowsN > 1 ? 0.16 / rowsN + 0.06 : 0;
    facets.forEach(function (facetValue, f) {
      var suffix = f === 0 ? "" : String(f + 1);
      var r = Math.floor(f / cols), c = f % cols;
      var xDomain = [c / cols + (c > 0 ? gapX / 2 : 0), (c + 1) / cols - (c < cols - 1 ? gapX / 2 : 0)];
      var yDomain = [1 - (r + 1) / rowsN + (r < rowsN - 1 ? gapY : 0), 1 - r / rowsN - (r > 0 ? 0.02 : 0)];
      var part = facetValue === null ? data : sub(data, rowsWhere(data, chart.facet, facetValue));
      series(chart, part, { x: xDomain, y: yDomain }, facets.length > 1).forEach(function (trace) {
        if (axes) {
          trace.xaxis = "x" + suffix;
          trace.yaxis = "y" + suffix;
        }
        if (round) {
          trace.marker.colors = trace.labels.map(function (label) { return colourOf(keyOf(label)); });
        } else if (trace.name != null && trace.type !== "heatmap" && trace.type !== "table") {
          var colour = colourOf(trace.name);
          trace.marker = Object.assign({}, trace.marker || {}, { color: colour });
          if (trace.type === "scatter" || trace.type === "box") trace.line = Object.assign({}, trace.line || {}, { color: colour });
          if (trace.fill) trace.fillcolor = colour + "66";
          trace.legendgroup = trace.name;
          if (legendSeen[trace.name]) trace.showlegend = false;
          legendSeen[trace.name] = true;
        }
        traces.push(trace);
      });
      if (axes) {
        var bottom = r === rowsN - 1 || f + cols >= facets.length;
        var xTitle = bottom ? (chart.horizontal ? chart.y.join(", ") : chart.x) : "";
        var yTitle = c === 0 ? (chart.horizontal ? chart.x : chart.y.join(", ")) : "";
        layout["xaxis" + suffix] = Object.assign(axisStyle(xTitle), { domain: xDomain, anchor: "y" + suffix });
        layout["yaxis" + suffix] = Object.assign(axisStyle(yTitle), { domain: yDomain, anchor: "x" + suffix });
      }
      if (facetValue !== null) {
        layout.annotations.push({ text: "<b>" + esc(facetValue) + "</b>", showarrow: false,
          xref: "paper", yref: "paper", x: (xDomain[0] + xDomain[1]) / 2, y: yDomain[1],
          xanchor: "center", yanchor: "bottom", font: { color: "#E50914", size: 12 } });
      }
    });
    if (chart.type === "table" || chart.type === "heatmap") layout.showlegend = false;
    return { data: traces, layout: layout };
  }

  // The traces of one facet: one per colour value, or one per y column.
  function series(chart, data, domain, faceted) {
    var type = chart.type;
    var x = chart.x, ys = chart.y || [];
    if (type === "table") {
      var names = chart.columns && chart.columns.length ? chart.columns : data.columns;
      return [{ type: "table",
        header: { values: names.map(function (n) { return "<b>" + esc(n) + "</b>"; }),
          fill: { color: "#E50914" }, font: { color: "#fff" }, line: { color: "#2f2f2f" }, align: "left" },
        cells: { values: names.map(function (n) { return column(data, n); }),
          fill: { color: ["#1c1c1c", "#232323"] }, font: { color: "#e5e5e5" }, line: { color: "#2f2f2f" },
          align: "left", height: 24 } }];
    }
    if (type === "pie" || type === "donut") {
      return [{ type: "pie", labels: column(data, x), values: column(data, ys[0]),
        hole: type === "donut" ? 0.55 : 0, sort: false, name: null,
        marker: { line: { color: "#141414", width: 2 } },
        domain: faceted ? { x: domain.x, y: [domain.y[0], domain.y[1] - 0.08] } : undefined }];
    }
    if (type === "heatmap") {
      var xs = distinct(column(data, x)), yv = distinct(column(data, ys[0]));
      var xi = data.columns.indexOf(x), yi = data.columns.indexOf(ys[0]), zi = data.columns.indexOf(chart.z);
      var z = yv.map(function () { return xs.map(function () { return null; }); });
      data.rows.forEach(function (row) {
        var a = yv.indexOf(keyOf(row[yi])), b = xs.indexOf(keyOf(row[xi]));
        if (a >= 0 && b >= 0) z[a][b] = (z[a][b] || 0) + (Number(row[zi]) || 0);
      });
      return [{ type: "heatmap", x: xs, y: yv, z: z, name: null,
        colorscale: [[0, "#1c1c1c"], [0.5, "#831010"], [1, "#E50914"]],
        colorbar: { tickfont: { color: "#bdbdbd" } } }];
    }
    var groups = chart.color ? distinct(column(data, chart.color)) : [null];
    var out = [];
    groups.forEach(function (g) {
      var part = g === null ? data : sub(data, rowsWhere(data, chart.color, g));
      if ((type === "line" || type === "area") && x) part = sortedBy(part, x);
      ys.forEach(function (y) {
        var name = g === null ? (ys.length > 1 ? y : (chart.title || y)) : (ys.length > 1 ? g + " · " + y : g);
        var xv = x ? column(part, x) : null, yvals = column(part, y);
        var trace;
        if (type === "bar") {
          trace = chart.horizontal ? { type: "bar", orientation: "h", x: yvals, y: xv }
            : { type: "bar", x: xv, y: yvals };
        } else if (type === "line") {
          trace = { type: "scatter", mode: "lines+markers", x: xv, y: yvals, marker: { size: 5 },
            line: { width: 2 } };
        } else if (type === "area") {
          trace = { type: "scatter", mode: "lines", x: xv, y: yvals, line: { width: 1.5 },
            fill: chart.stacked ? "tonexty" : "tozeroy" };
          if (chart.stacked) trace.stackgroup = "s";
        } else if (type === "scatter") {
          trace = { type: "scatter", mode: "markers", x: xv, y: yvals, marker: { size: 7, opacity: 0.8 } };
          if (chart.size) {
            var sizes = column(part, chart.size).map(Number);
            var max = Math.max.apply(null, sizes.filter(isFinite).concat([1]));
            trace.marker.size = sizes.map(function (s) { return 4 + 26 * Math.sqrt(Math.max(0, s) / max); });
          }
        } else if (type === "box") {
          trace = { type: "box", y: yvals, boxpoints: false, marker: { color: null } };
          if (xv) trace.x = xv;
        }
        trace.name = String(name);
        out.push(trace);
      });
    });
    if (!chart.color && ys.length === 1 && out.length === 1 && type !== "box") out[0].showlegend = false;
    return out;
  }

  function pointsOf(trace) {
    if (trace.type === "table") return trace.cells.values.length ? trace.cells.values[0].length : 0;
    if (trace.type === "pie") return (trace.values || []).length;
    if (trace.type === "heatmap") return trace.z.reduce(function (n, row) { return n + row.length; }, 0);
    return (trace.y || trace.x || []).length;
  }

  // Renders every chart of a dashboard; resolves with what was drawn.
  function drawDashboard(board, main) {
    main.appendChild(el("h1", {}, esc(board.title)));
    main.appendChild(el("p", { "class": "muted" },
      (board.description ? esc(board.description) + " · " : "") + "declared in <code>" + esc(board.path) + "</code>"));
    var grid = el("div", { "class": "charts" });
    main.appendChild(grid);
    var jobs = board.charts.map(function (chart) {
      var box = el("section", { "class": "chart" + (chart.width === "full" ? " full" : ""), "id": "chart-" + chart.id });
      var reads = (chart.reads || []).map(function (i) { return nodeLink(NODES[i]); }).join(", ");
      box.appendChild(el("h3", {}, esc(chart.title || chart.id)));
      box.appendChild(el("p", { "class": "note" },
        (chart.description ? esc(chart.description) + " · " : "") + "from " + reads +
        (chart.data && chart.data.truncated ? " · first " + chart.limit + " rows" : "")));
      grid.appendChild(box);
      var result = { id: chart.id, title: chart.title, type: chart.type, rendered: false, traces: 0, points: 0, drawn: 0 };
      if (!chart.data || chart.data.missing || typeof Plotly === "undefined") {
        result.missing = chart.data && chart.data.missing ? chart.data.missing :
          (typeof Plotly === "undefined" ? "plotly.js did not load" : "no data");
        box.appendChild(el("div", { "class": "empty" }, esc(result.missing)));
        return Promise.resolve(result);
      }
      var plot = el("div", { "class": "plot" });
      box.appendChild(plot);
      var fig = figure(chart);
      return Plotly.newPlot(plot, fig.data, fig.layout, { responsive: true, displaylogo: false })
        .then(function () {
          result.traces = plot.data.length;
          result.points = plot.data.reduce(function (n, t) { return n + pointsOf(t); }, 0);
          result.drawn = plot.querySelectorAll(
            "g.trace, g.slice, g.hm, image, g.table-control-view, g.column-block").length;
          result.paper = plot.layout.paper_bgcolor;
          result.rendered = plot.querySelector(".main-svg") !== null && result.traces > 0 &&
            result.points > 0 && result.drawn > 0;
          return result;
        }, function (error) {
          result.error = String(error && (error.message || error));
          window.sbErrors.push("chart " + chart.id + ": " + result.error);
          return result;
        });
    });
    return Promise.all(jobs);
  }

  // ---------------------------------------------------------------- pages
  function overview(main) {
    var count = function (type) { return NODES.filter(function (n) { return n.type === type; }).length; };
    var p = DOC.project;
    var html = "<h1>" + esc(p.name) + "</h1><p class=\"muted\">Target <b>" + esc(p.target) + "</b> (" +
      esc(p.adapter) + ") · generated " + esc(p.generated_at) +
      (p.run_generated_at ? " · last run " + esc(p.run_generated_at) : " · no run results yet") +
      (p.warehouse ? "" : " · the warehouse was not reachable or not built: no column types or chart data") + "</p>";
    html += '<div class="cards">';
    [["model", "models"], ["seed", "seeds"], ["source", "sources"], ["test", "tests"]].forEach(function (k) {
      html += '<div class="card"><div class="big">' + count(k[0]) + '</div><div class="muted">' + k[1] + "</div></div>";
    });
    DOC.dashboards.forEach(function (board) {
      html += '<a class="card link" href="#/dashboard/' + encodeURIComponent(board.name) + '"><div class="big">' +
        board.charts.length + '</div><div>' + esc(board.title) + '</div><div class="muted">dashboard</div></a>';
    });
    html += "</div><h2>Lineage</h2>";
    main.innerHTML = html;
    return drawGraph(main, null);
  }

  function nodePage(node, main) {
    var run = node.run;
    var html = '<h1>' + esc(node.label) + ' <span class="badge ' + node.type + '">' + node.type + "</span></h1>";
    html += '<p class="muted"><code>' + esc(node.id) + "</code>" + (node.enabled ? "" : " · disabled") + "</p>";
    html += descriptionHtml(node.description);
    if (node.source_description) html += '<p class="muted">Source: ' + esc(node.source_description) + "</p>";
    html += '<table class="grid facts">';
    var fact = function (k, v) { if (v != null && v !== "") html += "<tr><td>" + k + "</td><td>" + v + "</td></tr>"; };
    if (node.type === "model") fact("materialized", esc(node.materialized));
    fact("relation", node.relation ? "<code>" + esc(node.relation) + "</code>" +
      (node.built === false ? ' <span class="status-warn">not built</span>' : "") : null);
    fact("file", "<code>" + esc(node.path) + "</code>");
    if (node.yaml_path && node.yaml_path !== node.path) fact("described in", "<code>" + esc(node.yaml_path) + "</code>");
    if (node.tags && node.tags.length) fact("tags", node.tags.map(esc).join(", "));
    if (run) {
      fact("last run", '<span class="' + statusClass(run.status) + '">' + esc(run.status) + "</span>" +
        (run.seconds != null ? " in " + Number(run.seconds).toFixed(2) + "s" : "") +
        (run.completed_at ? ' <span class="muted">at ' + esc(run.completed_at) + "</span>" : "") +
        (run.message ? ' <span class="muted">· ' + esc(run.message) + "</span>" : "") +
        (run.failures ? ' <span class="status-bad">· ' + esc(run.failures) + " failures</span>" : ""));
    } else {
      fact("last run", '<span class="muted">not in run_results.json</span>');
    }
    if (node.parents.length) fact("depends on", node.parents.map(function (i) { return nodeLink(NODES[i]); }).join(", "));
    if (node.children.length) fact("used by", node.children.map(function (i) { return nodeLink(NODES[i]); }).join(", "));
    html += "</table>";
    main.innerHTML = html;
    var graphInfo = null;
    if (node.type !== "test") {
      main.appendChild(el("h2", {}, "Lineage"));
      graphInfo = drawGraph(main, node.index);
    }
    html = "";
    if (node.columns.length) {
      html += "<h2>Columns</h2><table class=\"grid\"><tr><th>Name</th><th>Type</th><th>Description</th><th>Tests</th></tr>";
      node.columns.forEach(function (c) {
        html += "<tr><td><b>" + esc(c.name) + "</b>" + (c.undeclared ? ' <span class="status-warn" title="documented but not in the warehouse">?</span>' : "") +
          '</td><td><code class="type">' + esc(c.type || "") + "</code></td><td>" + esc(c.description || "") +
          "</td><td>" + chips(c.tests) + "</td></tr>";
      });
      html += "</table>";
    }
    if ((node.node_tests && node.node_tests.length) || node.tests.length) {
      html += "<h2>Tests</h2>" + chips(node.node_tests);
      if (node.tests.length) {
        html += "<ul>" + node.tests.map(function (i) {
          var t = NODES[i];
          return "<li>" + nodeLink(t) + (t.run ? ' <span class="' + statusClass(t.run.status) + '">' + esc(t.run.status) + "</span>" : "") + "</li>";
        }).join("") + "</ul>";
      }
    }
    main.appendChild(el("div", {}, html));
    var code = node.compiled || node.raw;
    if (code) {
      main.appendChild(el("h2", {}, "SQL"));
      var tabs = el("div", { "class": "tabs" });
      var pre = el("pre", { "class": "sql" });
      var show = function (which) {
        pre.textContent = which === "raw" ? node.raw : (node.compiled || node.raw);
        Array.prototype.forEach.call(tabs.children, function (b) { b.classList.toggle("on", b.getAttribute("data-t") === which); });
      };
      if (node.compiled) tabs.appendChild(el("button", { "data-t": "compiled" }, "Compiled"));
      if (node.raw) tabs.appendChild(el("button", { "data-t": "raw" }, "Source"));
      tabs.addEventListener("click", function (e) { var t = e.target.getAttribute("data-t"); if (t) show(t); });
      main.appendChild(tabs);
      main.appendChild(pre);
      show(node.compiled ? "compiled" : "raw");
    }
    var config = el("pre", { "class": "sql" });
    config.textContent = JSON.stringify(node.config, null, 2);
    main.appendChild(el("h2", {}, "Config"));
    main.appendChild(config);
    return graphInfo;
  }

  function searchPage(query, main) {
    var found = matches(query);
    var html = "<h1>Search</h1><p class=\"muted\">" + found.length + " result" + (found.length === 1 ? "" : "s") +
      " for <b>" + esc(query) + "</b></p><ul class=\"results\">";
    found.slice(0, 500).forEach(function (n) {
      html += "<li>" + nodeLink(n) + ' <span class="badge ' + n.type + '">' + n.type + '</span> <span class="muted">' +
        esc((n.description || "").slice(0, 140)) + "</span></li>";
    });
    main.innerHTML = html + "</ul>";
    return found.length;
  }

  // ---------------------------------------------------------------- router and self-check
  var main = document.getElementById("main");
  var selfcheck = document.getElementById("sb-selfcheck");

  function report(route, graph, charts, extra) {
    var external = [];
    if (window.performance && performance.getEntriesByType) {
      performance.getEntriesByType("resource").forEach(function (entry) {
        if (!/^(file|data|blob|about):/.test(entry.name) &&
            entry.name.indexOf(location.origin === "null" ? "\u0000" : location.origin) !== 0) {
          external.push(entry.name);
        }
      });
    }
    selfcheck.textContent = JSON.stringify({
      route: route, ready: true, plotly: typeof Plotly === "undefined" ? null : Plotly.version,
      nodes: NODES.length, graph: graph, charts: charts || [], errors: window.sbErrors.slice(),
      external: external, title: document.title, found: extra && extra.found,
      theme: { background: getComputedStyle(document.body).backgroundColor,
        accent: getComputedStyle(document.querySelector(".logo")).color }
    });
  }

  function route() {
    var hash = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
    main.innerHTML = "";
    main.scrollTop = 0;
    Array.prototype.forEach.call(sidebar.querySelectorAll("a"), function (a) {
      a.classList.toggle("active", a.getAttribute("href") === location.hash || (!location.hash && a.getAttribute("href") === "#/"));
    });
    try {
      if (hash.indexOf("node/") === 0 && byId[hash.slice(5)]) {
        report(hash, nodePage(byId[hash.slice(5)], main));
      } else if (hash.indexOf("dashboard/") === 0) {
        var name = hash.slice(10);
        var board = DOC.dashboards.filter(function (d) { return d.name === name; })[0];
        if (!board) { main.innerHTML = "<h1>No dashboard named " + esc(name) + "</h1>"; report(hash, null); return; }
        selfcheck.textContent = "";
        drawDashboard(board, main).then(function (charts) { report(hash, null, charts); });
      } else if (hash === "graph") {
        main.appendChild(el("h1", {}, "Lineage graph"));
        report(hash, drawGraph(main, null));
      } else if (hash.indexOf("search/") === 0) {
        report(hash, null, null, { found: searchPage(hash.slice(7), main) });
      } else {
        report("", overview(main));
      }
    } catch (error) {
      window.sbErrors.push("page: " + (error && error.stack || error));
      main.appendChild(el("pre", { "class": "sql" }, esc(String(error && error.stack || error))));
      report(hash, null);
    }
  }

  var meta = document.getElementById("meta");
  meta.textContent = DOC.project.target + " · " + DOC.project.adapter + " · sb " + DOC.project.sb_version;
  buildSidebar();
  window.addEventListener("hashchange", route);
  route();
})();
