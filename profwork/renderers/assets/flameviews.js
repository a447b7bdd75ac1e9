/* profwork flame graph: three views (call tree, merged, inverted), library frames collapsed or
 * shown, shares on wide blocks, zoom, search, keyboard navigation; fitted to its window.
 *
 * Runs in the standalone flame.svg and inline in report.html: it works on the <svg> that
 * contains it, drawing from the JSON in that <svg>'s script.pwf-data (flame_views.py writes it).
 * Every name it shows goes through textContent, so nothing from profiled code can run.
 * State is written onto the <svg> for tools and tests: data-ready="1" once drawn, data-view,
 * data-collapsed, data-merged (the merged view's function), data-zoomed, and after a search
 * data-matched (frames highlighted) and data-matched-share (their share of the total, 0..1).
 */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var me = document.currentScript;
  var svg = (me && me.closest && me.closest("svg")) || document.documentElement;
  var standalone = svg === document.documentElement;
  var source = svg.querySelector("script.pwf-data");
  var DATA = source ? JSON.parse(source.textContent) : null;

  function number(name, fallback) {
    var value = parseFloat(svg.getAttribute(name));
    return isNaN(value) ? fallback : value;
  }
  var left = number("data-left", 10);
  var top = number("data-top", 140);
  var frameHeight = number("data-frame-height", 16);
  var unit = svg.getAttribute("data-unit") || "samples";
  var details = svg.querySelector(".details");
  var matched = svg.querySelector(".matched");
  var bar = svg.querySelector(".bar");
  var background = svg.querySelector(".bg");
  var framesGroup = svg.querySelector("g.frames");
  var idle = details ? details.textContent : "";

  function button(cls) { return svg.querySelector(".btn." + cls); }
  function buttonText(cls, text) {
    var b = button(cls);
    if (b) b.querySelector("text").textContent = text;
  }

  if (!DATA || !framesGroup) {
    svg.setAttribute("data-ready", "1");
    return;
  }

  var state = { view: "tree", collapsed: true, merged: 0, zoom: [], term: "", focus: null };
  var mergedOf = new Map(); // frame index -> merged view index
  DATA.merged.forEach(function (m, i) { mergedOf.set(m.frame, i); });
  var nodes = [];
  var byGroup = new Map();
  var plotWidth = 0;

  // ---- figures and labels ------------------------------------------------------------------
  function formatQuantity(value) {
    // profwork.units.format_quantity
    var magnitude = Math.abs(value);
    if (unit === "seconds") {
      if (magnitude >= 1) return value.toFixed(2) + " s";
      if (magnitude >= 1e-3) return (value * 1e3).toFixed(1) + " ms";
      return (value * 1e6).toFixed(0) + " µs";
    }
    if (unit === "bytes") {
      var scales = [["GiB", 1073741824], ["MiB", 1048576], ["KiB", 1024]];
      for (var k = 0; k < scales.length; k++) {
        if (magnitude >= scales[k][1]) return (value / scales[k][1]).toFixed(1) + " " + scales[k][0];
      }
      return value.toFixed(0) + " B";
    }
    return value.toFixed(0) + " samples";
  }
  function percent(share, digits) {
    return share >= 0.9995 && digits < 2 ? "100%" : (share * 100).toFixed(digits) + "%";
  }

  // Text is measured in the frames' own font, one character at a time (cached).
  var measure = document.createElementNS(NS, "text");
  measure.setAttribute("class", "measure");
  measure.setAttribute("x", "-1000");
  measure.setAttribute("y", "-1000");
  framesGroup.appendChild(measure);
  var advance = new Map();
  function charWidth(ch) {
    var w = advance.get(ch);
    if (w === undefined) {
      measure.textContent = ch;
      w = measure.getComputedTextLength() || 6.6;
      advance.set(ch, w);
    }
    return w;
  }
  function textWidth(text) {
    var w = 0;
    for (var i = 0; i < text.length; i++) w += charWidth(text[i]);
    return w;
  }
  // The label of a block `width` px wide: the name and its share when both fit, else the name,
  // cut with an ellipsis to the measured width.
  function fit(name, share, width) {
    var room = width - 6;
    if (room < 12) return "";
    if (share !== null) {
      var full = name + " " + percent(share, 1);
      if (textWidth(full) <= room) return full;
    }
    if (textWidth(name) <= room) return name;
    var ellipsis = charWidth("…");
    var used = 0;
    for (var i = 0; i < name.length; i++) {
      var w = charWidth(name[i]);
      if (used + w + ellipsis > room) return i >= 2 ? name.slice(0, i) + "…" : "";
      used += w;
    }
    return name;
  }

  // ---- building a view from the data -------------------------------------------------------
  // A view's blocks: flat [depth, start, weight, frame, merged] * n, start and weight integers
  // that pair.scale turns back into the profile's unit.
  function blocksOf(pair) {
    return state.collapsed ? pair.collapsed : pair.expanded || pair.collapsed;
  }

  function items() {
    var out = [];
    function add(pair, viewTotal, rowOf, dir, skipRoot) {
      var flat = blocksOf(pair);
      var scale = pair.scale;
      for (var i = 0; i < flat.length; i += 5) {
        var depth = flat[i];
        if (skipRoot !== null && depth <= skipRoot) continue;
        var weight = flat[i + 2] * scale;
        out.push({
          depth: depth,
          row: rowOf(depth),
          dir: dir,
          x0: flat[i + 1] * scale / viewTotal,
          w0: weight / viewTotal,
          weight: weight,
          frame: flat[i + 3],
          merged: flat[i + 4],
        });
      }
    }
    if (state.view === "merged") {
      var m = DATA.merged[state.merged];
      var callees = blocksOf(m.callees);
      var callers = blocksOf(m.callers);
      var weight = callees.length > 2 ? callees[2] * m.callees.scale : 0;
      var up = 1;
      for (var i = 0; i < callers.length; i += 5) up = Math.max(up, callers[i]);
      add(m.callers, weight, function (d) { return up - d; }, -1, 1);
      add(m.callees, weight, function (d) { return up - 1 + (d - 1); }, 1, 0);
      out.forEach(function (item) { item.level = item.depth - 1; });
    } else {
      add(DATA[state.view], DATA.total, function (d) { return d; }, 1, null);
      out.forEach(function (item) { item.level = item.depth; });
    }
    return out;
  }

  function describe(item) {
    var share = item.weight / DATA.total;
    var figure = formatQuantity(item.weight) + " · " + percent(share, 2);
    if (item.frame === -1) return { name: "all", location: "", kind: "root", fill: "", figure: figure };
    if (item.frame === -2) {
      return {
        name: "[" + item.merged.toLocaleString("en-US") + " narrow frame" + (item.merged === 1 ? "" : "s") + "]",
        location: "each too narrow to draw, merged",
        kind: "narrow",
        fill: "",
        figure: figure,
      };
    }
    var row = DATA.frames[item.frame];
    return { name: row[0], location: row[1], kind: row[2], fill: row[3], figure: figure };
  }

  var CLASSES = { root: "f r", narrow: "f n", hidden: "f x", thread: "f t", process: "f t" };
  var FILLS = { root: "#3f4a5c", narrow: "#d4d4d8" };

  function draw() {
    Array.prototype.slice.call(framesGroup.childNodes).forEach(function (child) {
      if (child !== measure) framesGroup.removeChild(child);
    });
    nodes = [];
    byGroup = new Map();
    var rows = 0;
    items().forEach(function (item) {
      var d = describe(item);
      var g = document.createElementNS(NS, "g");
      var cls = CLASSES[d.kind] || "f";
      if (state.view === "merged" && item.level === 0) cls += " c";
      g.setAttribute("class", cls);
      var title = document.createElementNS(NS, "title");
      title.textContent = [d.name, d.location, d.figure].filter(Boolean).join("\n");
      var rect = document.createElementNS(NS, "rect");
      rect.setAttribute("y", String(top + item.row * frameHeight));
      rect.setAttribute("height", String(frameHeight - 1));
      rect.setAttribute("fill", d.fill || FILLS[d.kind] || "#d4d4d8");
      g.appendChild(title);
      g.appendChild(rect);
      framesGroup.appendChild(g);
      var node = item;
      node.g = g;
      node.rect = rect;
      node.label = null;
      node.name = d.name;
      node.location = d.kind === "narrow" ? "" : d.location;
      node.figure = d.figure;
      node.kind = d.kind;
      node.share = item.weight / DATA.total;
      nodes.push(node);
      byGroup.set(g, node);
      rows = Math.max(rows, item.row + 1);
    });
    var height = top + rows * frameHeight + left;
    svg.setAttribute("height", String(height));
    svg.setAttribute("viewBox", "0 0 " + (plotWidth + 2 * left) + " " + height);
    if (background) {
      background.setAttribute("height", String(height));
    }
    state.focus = null;
    layoutNodes();
    if (state.term) search(state.term);
    svg.setAttribute("data-view", state.view);
    svg.setAttribute("data-collapsed", state.collapsed ? "1" : "0");
    var m = DATA.merged[state.merged];
    svg.setAttribute("data-merged", m ? DATA.frames[m.frame][0] : "");
    ["tree", "merged", "inverted"].forEach(function (view) {
      var b = svg.querySelector('.btn.view[data-view="' + view + '"]');
      if (b) b.classList.toggle("on", view === state.view);
    });
    buttonText("libs", state.collapsed ? "Show library frames" : "Hide library frames");
  }

  function place(node, x, w) {
    node.rect.setAttribute("x", (left + x).toFixed(3));
    node.rect.setAttribute("width", Math.max(0, w).toFixed(3));
    var text = fit(node.name, node.kind === "narrow" ? null : node.share, w);
    if (!node.label && text) {
      node.label = document.createElementNS(NS, "text");
      node.label.setAttribute("y", String(top + node.row * frameHeight + frameHeight - 4.5));
      node.g.appendChild(node.label);
    }
    if (node.label) {
      node.label.setAttribute("x", (left + x + 3).toFixed(2));
      node.label.textContent = text;
    }
  }

  // ---- zoom ----------------------------------------------------------------------------------
  var EPS = 1e-7;
  function inside(node, target) {
    return node.x0 >= target.x0 - EPS && node.x0 + node.w0 <= target.x0 + target.w0 + EPS;
  }
  function spans(node, target) {
    return node.x0 <= target.x0 + EPS && node.x0 + node.w0 >= target.x0 + target.w0 - EPS;
  }

  function layoutNodes() {
    var target = state.zoom.length ? state.zoom[state.zoom.length - 1] : null;
    var k = target ? 1 / target.w0 : 1;
    nodes.forEach(function (node) {
      var shown = true;
      var faded = false;
      if (!target) {
        place(node, node.x0 * plotWidth, node.w0 * plotWidth);
      } else if (node.dir === target.dir && node.level >= target.level && inside(node, target)) {
        place(node, (node.x0 - target.x0) * k * plotWidth, node.w0 * k * plotWidth);
      } else if (node.level < target.level && (node.dir === target.dir || node.level === 0) &&
                 spans(node, target)) {
        place(node, 0, plotWidth);
        faded = true;
      } else {
        shown = false;
      }
      node.g.classList.toggle("a", faded);
      node.g.classList.toggle("h", !shown);
    });
    var reset = button("reset");
    if (reset) reset.classList.toggle("h", !target);
    if (target) svg.setAttribute("data-zoomed", "1");
    else svg.removeAttribute("data-zoomed");
  }

  function zoom(node) {
    if (!node || node.kind === "narrow") return;
    if (node.level === 0) return zoomTo([]);
    var stack = state.zoom.slice();
    while (stack.length && !inside(node, stack[stack.length - 1])) stack.pop();
    stack.push(node);
    zoomTo(stack);
  }
  function zoomTo(stack) {
    state.zoom = stack;
    layoutNodes();
  }
  function zoomOut() {
    if (!state.zoom.length) return false;
    zoomTo(state.zoom.slice(0, -1));
    return true;
  }

  // ---- views ---------------------------------------------------------------------------------
  function show(view, mergedIndex) {
    state.view = view;
    if (mergedIndex !== undefined) state.merged = mergedIndex;
    state.zoom = [];
    draw();
  }
  function showMerged(node) {
    if (!node || node.frame < 0) return;
    var index = mergedOf.get(node.frame);
    if (index === undefined) {
      if (details) {
        details.textContent = "No merged view of " + node.name + ": only the " +
          DATA.merged.length + " heaviest functions have one";
      }
      return;
    }
    show("merged", index);
  }

  // ---- search --------------------------------------------------------------------------------
  function pattern(text) {
    try {
      return new RegExp(text);
    } catch (error) {
      return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    }
  }

  function search(text) {
    state.term = text || "";
    var re = state.term ? pattern(state.term) : null;
    var hits = [];
    nodes.forEach(function (node) {
      var hit = !!re && node.kind !== "root" && node.kind !== "narrow" &&
        (re.test(node.name) || re.test(node.location));
      node.g.classList.toggle("m", hit);
      if (hit) hits.push(node);
    });
    buttonText("search", re ? "Clear" : "Search");
    if (!re) {
      if (matched) matched.textContent = "";
      svg.removeAttribute("data-matched");
      svg.removeAttribute("data-matched-share");
      return;
    }
    // The matched share: the union of the matched blocks' spans (a callee inside a matched
    // caller counts once), of the callee side in the merged view, as a share of the total.
    var spanned = hits.filter(function (n) { return n.dir > 0; });
    spanned.sort(function (a, b) { return a.x0 - b.x0 || a.level - b.level; });
    var covered = 0;
    var end = -Infinity;
    spanned.forEach(function (node) {
      var right = node.x0 + node.w0;
      if (right > end) {
        covered += right - Math.max(node.x0, end);
        end = right;
      }
    });
    var viewWeight = state.view === "merged" ? nodes.filter(function (n) {
      return n.level === 0;
    }).reduce(function (sum, n) { return sum + n.weight; }, 0) : DATA.total;
    var share = DATA.total > 0 ? Math.min(1, covered * viewWeight / DATA.total) : 0;
    if (matched) {
      matched.textContent = "Matched " + hits.length + " frame" + (hits.length === 1 ? "" : "s") +
        ": " + percent(share, 2) + " · " + formatQuantity(share * DATA.total);
    }
    svg.setAttribute("data-matched", String(hits.length));
    svg.setAttribute("data-matched-share", share.toFixed(4));
  }

  function askSearch() {
    if (state.term) return search("");
    var text = window.prompt("Search frames (regular expression, matched against names and paths)", "");
    if (text) search(text);
    focusSvg();
  }

  // ---- keyboard ------------------------------------------------------------------------------
  function focusSvg() {
    if (svg.focus) {
      try { svg.focus({ preventScroll: true }); } catch (error) { /* not focusable here */ }
    }
  }
  function visible(node) { return !node.g.classList.contains("h"); }
  function box(node) {
    var x = parseFloat(node.rect.getAttribute("x"));
    return { x: x, w: parseFloat(node.rect.getAttribute("width")) };
  }
  function setFocus(node) {
    if (state.focus) state.focus.g.classList.remove("k");
    state.focus = node;
    if (!node) return;
    node.g.classList.add("k");
    if (details) details.textContent = node.name + (node.location ? "  " + node.location : "") + "  —  " + node.figure;
    svg.setAttribute("data-focus", node.name);
  }
  function neighbour(from, key) {
    var b = box(from);
    var centre = b.x + b.w / 2;
    var best = null;
    var bestScore = Infinity;
    nodes.forEach(function (node) {
      if (node === from || !visible(node)) return;
      var n = box(node);
      var score;
      if (key === "ArrowLeft" || key === "ArrowRight") {
        if (node.row !== from.row) return;
        var ahead = key === "ArrowRight" ? n.x - b.x : b.x - n.x;
        if (ahead <= 0) return;
        score = ahead;
      } else {
        if (node.row !== from.row + (key === "ArrowDown" ? 1 : -1)) return;
        var inSpan = n.x <= centre && centre <= n.x + n.w;
        score = inSpan ? 0 : Math.min(Math.abs(n.x - b.x), Math.abs(n.x + n.w - centre)) + 1;
      }
      if (score < bestScore) {
        bestScore = score;
        best = node;
      }
    });
    return best;
  }

  function onKey(event) {
    var key = event.key;
    if (key === "Escape") {
      // first the search, then the zoom
      if (state.term) search("");
      else if (state.zoom.length) zoomTo([]);
      else return;
      event.preventDefault();
      return;
    }
    if (standalone && (event.ctrlKey || event.metaKey) && key === "f") {
      event.preventDefault();
      askSearch();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (key === "Backspace") {
      if (zoomOut()) event.preventDefault();
      return;
    }
    if (key.indexOf("Arrow") === 0) {
      var next = state.focus && visible(state.focus) ? neighbour(state.focus, key) : null;
      if (!state.focus || !visible(state.focus)) {
        next = nodes.filter(visible).sort(function (a, b) { return a.row - b.row || a.x0 - b.x0; })[0];
      }
      if (next) setFocus(next);
      event.preventDefault();
      return;
    }
    if (key === "Enter" && state.focus) {
      zoom(state.focus);
      event.preventDefault();
      return;
    }
    if ((key === "m" || key === "M") && state.focus) {
      var name = state.focus.name;
      showMerged(state.focus);
      svg.setAttribute("data-focus", name);
      event.preventDefault();
    }
  }

  // ---- events --------------------------------------------------------------------------------
  function nodeOf(event) {
    var g = event.target.closest ? event.target.closest("g.f") : null;
    return g ? byGroup.get(g) : undefined;
  }

  svg.addEventListener("mouseover", function (event) {
    var node = nodeOf(event);
    if (!node || !details) return;
    details.textContent = node.name + (node.location ? "  " + node.location : "") + "  —  " + node.figure;
  });
  svg.addEventListener("mouseout", function (event) {
    if (nodeOf(event) && details) details.textContent = idle;
  });
  svg.addEventListener("click", function (event) {
    var target = event.target;
    var b = target.closest ? target.closest(".btn") : null;
    if (b) {
      if (b.classList.contains("reset")) zoomTo([]);
      else if (b.classList.contains("search")) askSearch();
      else if (b.classList.contains("libs")) {
        state.collapsed = !state.collapsed;
        state.zoom = [];
        draw();
      } else if (b.classList.contains("view")) show(b.getAttribute("data-view"));
      return;
    }
    var node = nodeOf(event);
    if (node) {
      setFocus(node);
      zoom(node);
    }
    focusSvg();
  });
  svg.addEventListener("dblclick", function (event) {
    showMerged(nodeOf(event));
  });
  (standalone ? document : svg).addEventListener("keydown", onKey);

  // ---- fit to the window ---------------------------------------------------------------------
  function measureWidth() {
    var width = svg.getBoundingClientRect().width;
    if (!width || width < 200) width = 1200;
    return Math.round(width);
  }
  function fitWidth() {
    var width = measureWidth();
    plotWidth = width - 2 * left;
    svg.setAttribute("data-plot-width", String(plotWidth));
    if (background) background.setAttribute("width", String(width));
    if (bar) bar.setAttribute("width", String(plotWidth));
    if (matched) matched.setAttribute("x", String(width - left - 8));
  }
  var resizing = 0;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () {
      var width = measureWidth();
      if (width !== plotWidth + 2 * left) {
        fitWidth();
        draw();
      }
    }, 150);
  });

  fitWidth();
  var query = null;
  try {
    query = new URLSearchParams(window.location.search);
  } catch (error) {
    // no URL search parameters where the graph is shown (a data: URL): nothing to do
  }
  // ?view=merged|inverted|tree, ?libs=shown and ?s=REGEX open the graph that way
  if (query && ["tree", "inverted"].indexOf(query.get("view")) >= 0) state.view = query.get("view");
  if (query && query.get("view") === "merged" && DATA.merged.length) state.view = "merged";
  if (query && query.get("libs") === "shown") state.collapsed = false;
  draw();
  try {
    var wanted = query && query.get("s");
    if (wanted) search(wanted);
  } catch (error) {
    // no URL search parameters where the graph is shown (a data: URL): nothing to do
  }
  svg.setAttribute("data-ready", "1");
})();
