/* profwork differential flame graph: the self/total colour toggle (flame.js does the rest).
 *
 * Each frame carries both fills as data attributes (data-total-fill, data-self-fill), computed by
 * profwork.renderers.diffsvg; the button swaps which one the rectangles show and records the
 * choice as data-mode on the <svg>. No data from profiled code is read or written here.
 */
(function () {
  "use strict";
  var me = document.currentScript;
  var svg = (me && me.closest && me.closest("svg")) || document.documentElement;
  var button = svg.querySelector(".btn.mode");
  var groups = svg.querySelectorAll("g.f");

  function show(mode) {
    var attribute = mode === "self" ? "data-self-fill" : "data-total-fill";
    for (var i = 0; i < groups.length; i++) {
      var colour = groups[i].getAttribute(attribute);
      var rect = groups[i].querySelector("rect");
      if (colour && rect) rect.setAttribute("fill", colour);
    }
    svg.setAttribute("data-mode", mode);
    if (button) button.querySelector("text").textContent = "Colour by: " + mode;
  }

  if (button) {
    button.addEventListener("click", function (event) {
      event.stopPropagation();
      show(svg.getAttribute("data-mode") === "self" ? "total" : "self");
    });
  }
  try {
    var wanted = new URLSearchParams(window.location.search).get("mode");
    if (wanted === "self" || wanted === "total") show(wanted);
  } catch (error) {
    // no URL parameters where the graph is shown: the default (total) stays
  }
  svg.setAttribute("data-diff-ready", "1");
})();
