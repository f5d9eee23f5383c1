// The officer's report page, progressive enhancement only: "Show without blur" swaps the
// blurred preview for the clear one in place (without JavaScript the link opens the clear
// preview on its own); a confirmation panel, or the first field in error, takes the focus.
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
  if (confirm) {
    confirm.focus();
  } else {
    // A form sent back with an error: bring its field into view, with the focus on it.
    var invalid = document.querySelector(
      ".action-panel [aria-invalid=true], #partner [aria-invalid=true], #partner fieldset.has-error, " +
      "#break-glass [aria-invalid=true]");
    if (invalid) {
      invalid.scrollIntoView({block: "center"});
      invalid.focus({preventScroll: true});
    }
  }
})();
