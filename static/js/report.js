// The officer's report page, progressive enhancement only: "Show without blur" swaps the
// blurred preview for the clear one in place (without JavaScript the link opens the clear
// preview on its own); a confirmation panel takes the focus when it appears.
(function () {
  "use strict";
  var links = document.querySelectorAll("a.unblur[data-preview]");
  Array.prototype.forEach.call(links, function (link) {
    var image = document.getElementById(link.getAttribute("data-preview"));
    if (!image) { return; }
    link.addEventListener("click", function (event) {
      event.preventDefault();
      image.src = link.getAttribute("href");
      image.alt = image.getAttribute("data-clear-alt") || image.alt;
      image.classList.remove("blurred");
      image.classList.add("clear");
      link.hidden = true;
    });
  });
  var confirm = document.getElementById("close-confirm");
  if (confirm) { confirm.focus(); }
})();
