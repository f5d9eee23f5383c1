// Staff pages, progressive enhancement only: copy buttons for reported addresses.
(function () {
  "use strict";
  var buttons = document.querySelectorAll("button.copy[data-copy-target]");
  Array.prototype.forEach.call(buttons, function (button) {
    var target = document.getElementById(button.getAttribute("data-copy-target"));
    if (!target || !navigator.clipboard) { return; }
    button.hidden = false;
    var label = button.textContent;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(target.textContent).then(function () {
        button.textContent = "✓ " + label;
        window.setTimeout(function () { button.textContent = label; }, 2000);
      });
    });
  });
  // On a phone the queue matters more than the filters: fold them unless some are in use.
  var filters = document.getElementById("queue-filter-details");
  if (filters && window.matchMedia("(max-width: 700px)").matches &&
      window.location.search.length <= 1) {
    filters.open = false;
  }
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();
