// The officer queue, progressive enhancement only: the form works without it.
// "Tick every report on this page", and only the fields of the chosen bulk action shown.
(function () {
  "use strict";
  var form = document.querySelector("form.bulk-form");
  if (!form) { return; }
  var boxes = form.querySelectorAll("input[name=refs]");
  var all = document.getElementById("pick-all");
  if (all) {
    all.hidden = false;
    var sync = function () {
      var ticked = 0;
      Array.prototype.forEach.call(boxes, function (box) { if (box.checked) { ticked += 1; } });
      all.checked = ticked > 0 && ticked === boxes.length;
      all.indeterminate = ticked > 0 && ticked < boxes.length;
    };
    all.addEventListener("change", function () {
      Array.prototype.forEach.call(boxes, function (box) { box.checked = all.checked; });
    });
    Array.prototype.forEach.call(boxes, function (box) { box.addEventListener("change", sync); });
    sync();
  }
  var action = form.querySelector("select[name=action]");
  var fields = form.querySelectorAll("[data-bulk-for]");
  if (!action) { return; }
  var show = function () {
    Array.prototype.forEach.call(fields, function (field) {
      field.hidden = field.getAttribute("data-bulk-for") !== action.value;
    });
  };
  action.addEventListener("change", show);
  show();
})();
