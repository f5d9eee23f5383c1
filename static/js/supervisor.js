// Supervisor pages: hide the "scroll sideways" line of tables that fit their box, and show it
// again when the window narrows. Without JavaScript the line simply stays.
(function () {
  "use strict";
  var boxes = document.querySelectorAll(".sv-scroll");
  function measure() {
    boxes.forEach(function (box) {
      if (box.scrollWidth > box.clientWidth + 1) {
        box.removeAttribute("data-fits");
      } else {
        box.setAttribute("data-fits", "");
      }
    });
  }
  measure();
  window.addEventListener("resize", measure);
  document.querySelectorAll("details").forEach(function (d) {
    d.addEventListener("toggle", measure);
  });
})();
