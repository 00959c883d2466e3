// Draws every [data-chart] element with Plotly. The figure comes from a json_script element
// whose id is the data-chart value (usecases/charts.py builds it). Runs in htmx.onLoad, so a
// fragment swapped in by htmx draws its charts too.
(function () {
  "use strict";

  var config = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

  function draw(root) {
    var elements = Array.prototype.slice.call(root.querySelectorAll("[data-chart]"));
    if (root.matches && root.matches("[data-chart]")) elements.push(root);
    elements.forEach(function (element) {
      var payload = document.getElementById(element.getAttribute("data-chart"));
      if (!payload || typeof Plotly === "undefined") return;
      var figure = JSON.parse(payload.textContent);
      Plotly.newPlot(element, figure.data, figure.layout || {}, config);
    });
  }

  htmx.onLoad(draw);
})();
