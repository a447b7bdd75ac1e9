/* profwork flame graph: hover details, click to zoom, search (flamegraph.pl's ?s= included).
 *
 * Runs in the standalone flame.svg and inline in report.html: it works on the <svg> that
 * contains it. It carries no data: every name it shows is read from the escaped <title> of a
 * frame and written back with textContent, so nothing from profiled code can run.
 * When ready it sets data-ready="1" on its <svg>; a search sets data-matched (the number of
 * frames highlighted) and data-matched-share (their share of the total, 0..1).
 */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var me = document.currentScript;
  var svg = (me && me.closest && me.closest("svg")) || document.documentElement;
  var standalone = svg === document.documentElement;

  function number(name, fallback) {
    var value = parseFloat(svg.getAttribute(name));
    return isNaN(value) ? fallback : value;
  }
  var unit = svg.getAttribute("data-unit") || "samples";
  var total = number("data-total", 0);
  var left = number("data-left", 10);
  var plotWidth = number("data-plot-width", 1180);
  var charWidth = number("data-char-width", 6.6);
  var frameHeight = number("data-frame-height", 16);

  var details = svg.querySelector(".details");
  var matched = svg.querySelector(".matched");
  var resetButton = svg.querySelector(".btn.reset");
  var searchButton = svg.querySelector(".btn.search");
  var idle = details ? details.textContent : "";

  // ---- the frames, read once -----------------------------------------------------------------
  var nodes = [];
  var byGroup = new Map();
  var groups = svg.querySelectorAll("g.f");
  for (var i = 0; i < groups.length; i++) {
    var g = groups[i];
    var rect = g.querySelector("rect");
    var title = g.querySelector("title");
    var lines = title ? title.textContent.split("\n") : [""];
    var node = {
      g: g,
      rect: rect,
      label: g.querySelector("text"),
      x: parseFloat(rect.getAttribute("x")),
      y: parseFloat(rect.getAttribute("y")),
      w: parseFloat(rect.getAttribute("width")),
      name: lines[0],
      location: lines.length > 2 ? lines[1] : "",
      figure: lines.length > 1 ? lines[lines.length - 1] : "",
      root: g.classList.contains("r"),
      merged: g.classList.contains("n"),
    };
    nodes.push(node);
    byGroup.set(g, node);
  }

  function formatQuantity(value) {
    // profwork.renderers.format_quantity
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

  // flamesvg.fit: the label that fits a block `width` px wide
  function fit(name, width) {
    var room = Math.floor((width - 6) / charWidth);
    if (name.length <= room) return name;
    return room >= 5 ? name.slice(0, room - 2) + ".." : "";
  }

  function place(node, x, w) {
    node.rect.setAttribute("x", x.toFixed(3));
    node.rect.setAttribute("width", w.toFixed(3));
    var text = fit(node.name, w);
    if (!node.label && text) {
      node.label = document.createElementNS(NS, "text");
      node.label.setAttribute("y", String(node.y + frameHeight - 4.5));
      node.g.appendChild(node.label);
    }
    if (node.label) {
      node.label.setAttribute("x", (x + 3).toFixed(2));
      node.label.textContent = text;
    }
  }

  // ---- zoom ----------------------------------------------------------------------------------
  var EPS = 0.02;

  function zoom(target) {
    if (target.root) return reset();
    var k = plotWidth / target.w;
    nodes.forEach(function (node) {
      var shown = true;
      if (node.y < target.y) {
        // a shallower block spanning the target is one of its callers
        if (node.x <= target.x + EPS && node.x + node.w >= target.x + target.w - EPS) {
          place(node, left, plotWidth);
          node.g.classList.add("a");
        } else {
          shown = false;
        }
      } else if (node.x >= target.x - EPS && node.x + node.w <= target.x + target.w + EPS) {
        place(node, left + (node.x - target.x) * k, node.w * k);
        node.g.classList.remove("a");
      } else {
        shown = false;
      }
      node.g.classList.toggle("h", !shown);
    });
    if (resetButton) resetButton.classList.remove("h");
    svg.setAttribute("data-zoomed", "1");
  }

  function reset() {
    nodes.forEach(function (node) {
      place(node, node.x, node.w);
      node.g.classList.remove("a", "h");
    });
    if (resetButton) resetButton.classList.add("h");
    svg.removeAttribute("data-zoomed");
  }

  // ---- search --------------------------------------------------------------------------------
  var term = "";

  function pattern(text) {
    try {
      return new RegExp(text);
    } catch (error) {
      return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    }
  }

  function search(text) {
    term = text || "";
    var re = term ? pattern(term) : null;
    var hits = [];
    nodes.forEach(function (node) {
      var hit = !!re && !node.root && !node.merged && (re.test(node.name) || re.test(node.location));
      node.g.classList.toggle("m", hit);
      if (hit) hits.push(node);
    });
    if (searchButton) searchButton.querySelector("text").textContent = re ? "Clear" : "Search";
    if (!re) {
      if (matched) matched.textContent = "";
      svg.removeAttribute("data-matched");
      svg.removeAttribute("data-matched-share");
      return;
    }
    // The matched share: the union of the matched blocks' spans (a callee inside a matched
    // caller counts once), at the unzoomed scale.
    hits.sort(function (a, b) { return a.x - b.x || a.y - b.y; });
    var covered = 0;
    var end = -Infinity;
    hits.forEach(function (node) {
      var right = node.x + node.w;
      if (right > end) {
        covered += right - Math.max(node.x, end);
        end = right;
      }
    });
    var share = plotWidth > 0 ? Math.min(1, covered / plotWidth) : 0;
    if (matched) {
      matched.textContent = "Matched " + hits.length + " frame" + (hits.length === 1 ? "" : "s") +
        ": " + (share * 100).toFixed(2) + "% · " + formatQuantity(share * total);
    }
    svg.setAttribute("data-matched", String(hits.length));
    svg.setAttribute("data-matched-share", share.toFixed(4));
  }

  function askSearch() {
    if (term) return search("");
    var text = window.prompt("Search frames (regular expression, matched against names and paths)", "");
    if (text) search(text);
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
    if (target.closest && target.closest(".btn.reset")) return reset();
    if (target.closest && target.closest(".btn.search")) return askSearch();
    var node = nodeOf(event);
    if (node && !node.merged) zoom(node);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      reset();
    } else if (standalone && (event.ctrlKey || event.metaKey) && event.key === "f") {
      event.preventDefault();
      askSearch();
    }
  });

  try {
    var wanted = new URLSearchParams(window.location.search).get("s");
    if (wanted) search(wanted);
  } catch (error) {
    // no URL search parameters where the graph is shown (a data: URL, an <img>): nothing to do
  }
  svg.setAttribute("data-ready", "1");
})();
