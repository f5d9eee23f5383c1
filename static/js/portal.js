// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // Quick exit: hide the page, forget what it holds, and leave through /exit (which ends the
  // follow-up on the server) without adding this page to the back button's history.
  var exit = document.getElementById("quick-exit");
  var leaving = false;
  function leave(event) {
    if (event) { event.preventDefault(); }
    leaving = true;
    document.body.style.visibility = "hidden";
    try {
      var forms = document.forms;
      for (var i = 0; i < forms.length; i++) { forms[i].reset(); }
      if (window.sessionStorage) { window.sessionStorage.clear(); }
      if (window.localStorage) { window.localStorage.clear(); }
    } catch (ignored) { /* storage may be disabled: leaving matters more */ }
    window.location.replace(exit.href);
  }
  if (exit) {
    exit.addEventListener("click", leave);
    var lastEscape = 0;
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" && event.key !== "Esc") { return; }
      var now = Date.now();
      if (now - lastEscape < 800) { leave(); }
      lastEscape = now;
    });
  }

  // Receipt page: a copy button, and a warning before leaving until the receipt was kept.
  var receiptCard = document.querySelector("[data-leave-warning]");
  if (receiptCard) {
    var kept = false;
    var copyButton = document.getElementById("copy-receipt");
    var copyStatus = document.getElementById("copy-status");
    var receiptText = document.getElementById("receipt");
    if (copyButton && navigator.clipboard && navigator.clipboard.writeText) {
      copyButton.hidden = false;
      copyButton.addEventListener("click", function () {
        var digits = receiptText.textContent.replace(/\s+/g, "");
        navigator.clipboard.writeText(digits).then(function () {
          kept = true;
          copyStatus.textContent = copyButton.getAttribute("data-copied");
        }, function () {
          copyStatus.textContent = copyButton.getAttribute("data-failed");
        });
      });
    }
    var save = document.getElementById("save-receipt");
    if (save) { save.addEventListener("click", function () { kept = true; }); }
    var done = receiptCard.querySelector("form.receipt-done");
    if (done) { done.addEventListener("submit", function () { kept = true; }); }
    window.addEventListener("beforeunload", function (event) {
      if (kept || leaving) { return; }
      event.preventDefault();
      event.returnValue = receiptCard.getAttribute("data-leave-warning");
      return event.returnValue;
    });
  }

  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }

  // Category questions: show only the chosen category's questions. CSS :has() does this
  // without JavaScript in recent browsers; this covers the others the same way.
  var reportForm = document.querySelector("form.report-form");
  function showCategoryQuestions() {
    var checked = reportForm.querySelector("input[name=category]:checked");
    var chosen = checked ? checked.value : "";
    var blocks = reportForm.querySelectorAll("[data-category]");
    for (var i = 0; i < blocks.length; i++) {
      blocks[i].hidden = blocks[i].getAttribute("data-category") !== chosen;
    }
  }
  if (reportForm) {
    reportForm.classList.add("js-questions");
    var radios = reportForm.querySelectorAll("input[name=category]");
    for (var r = 0; r < radios.length; r++) {
      radios[r].addEventListener("change", showCategoryQuestions);
    }
    showCategoryQuestions();
  }

  // Upload progress: forms that send files go through XMLHttpRequest to show how far the
  // upload is; the server's answer (receipt, or the form with its errors) then replaces the page.
  // Without XMLHttpRequest upload events, or with no file chosen, the form submits normally.
  var template = document.getElementById("upload-progress-template");

  function hasChosenFiles(form) {
    var inputs = form.querySelectorAll("input[type=file]");
    for (var i = 0; i < inputs.length; i++) {
      if (inputs[i].files && inputs[i].files.length) { return true; }
    }
    return false;
  }

  function progressBox(form) {
    var box = form.querySelector(".upload-progress");
    if (!box) {
      box = template.content.firstElementChild.cloneNode(true);
      var button = form.querySelector("button[type=submit], input[type=submit]");
      if (button) { button.parentNode.insertBefore(box, button); } else { form.appendChild(box); }
    }
    box.hidden = false;
    return box;
  }

  function replaceDocument(html, url) {
    if (url && window.history && window.history.replaceState) {
      window.history.replaceState(null, "", url);
    }
    document.open();
    document.write(html);
    document.close();
  }

  function sendWithProgress(form) {
    var box = progressBox(form);
    var bar = box.querySelector("progress");
    var status = box.querySelector(".upload-status");
    var sendingText = status.getAttribute("data-sending");
    var doneText = status.getAttribute("data-done");
    var failedText = status.getAttribute("data-failed");
    var buttons = form.querySelectorAll("button[type=submit], input[type=submit]");
    for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = true; }
    var lastAnnounced = -1;

    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.upload.addEventListener("progress", function (event) {
      if (!event.lengthComputable) { return; }
      var percent = Math.floor((event.loaded / event.total) * 100);
      bar.value = percent;
      bar.textContent = percent + "%";
      // Announce in steps of 10% so that screen readers are not flooded.
      var step = Math.floor(percent / 10);
      if (step !== lastAnnounced) {
        lastAnnounced = step;
        status.textContent = sendingText + " " + percent + "%";
      }
    });
    xhr.upload.addEventListener("load", function () {
      bar.value = 100;
      status.textContent = doneText;
    });
    xhr.addEventListener("load", function () {
      replaceDocument(xhr.responseText, xhr.responseURL);
    });
    function failed() {
      status.textContent = failedText;
      box.classList.add("failed");
      for (var j = 0; j < buttons.length; j++) { buttons[j].disabled = false; }
    }
    xhr.addEventListener("error", failed);
    xhr.addEventListener("abort", failed);
    xhr.send(new FormData(form));
  }

  var canTrackUploads = !!(window.FormData && window.XMLHttpRequest &&
    ("upload" in new XMLHttpRequest()) && template && template.content);
  if (canTrackUploads) {
    var uploadForms = document.querySelectorAll("form[enctype='multipart/form-data']");
    for (var f = 0; f < uploadForms.length; f++) {
      uploadForms[f].addEventListener("submit", function (event) {
        var form = event.currentTarget;
        if (event.defaultPrevented || !hasChosenFiles(form)) { return; }
        // The proof of work is still being computed: let its handler send the form.
        var pow = form.querySelector("input[name=pow_solution]");
        if (pow && !pow.value) { return; }
        event.preventDefault();
        sendWithProgress(form);
      });
    }
  }

  // Territory: the grouped list works everywhere; with JavaScript it becomes two short lists,
  // the region first, then only that region's prefectures and provinces.
  var territory = document.querySelector("select[data-region-label]");
  if (territory) { splitTerritory(territory); }

  function splitTerritory(select) {
    var groups = [];
    var placeholder = null;
    for (var i = 0; i < select.children.length; i++) {
      var child = select.children[i];
      if (child.tagName === "OPTGROUP") {
        var options = [];
        for (var k = 0; k < child.children.length; k++) {
          // The "choose" prompt may sit in a group of its own: keep it as the placeholder.
          if (child.children[k].value) { options.push(child.children[k]); }
          else { placeholder = child.children[k]; }
        }
        if (options.length) { groups.push({ label: child.label, options: options }); }
      } else if (child.tagName === "OPTION" && !child.value) {
        placeholder = child;
      }
    }
    if (!groups.length) { return; }
    var wrapper = document.createElement("div");
    wrapper.className = "field region-field";
    var label = document.createElement("label");
    label.className = "label";
    label.htmlFor = "region";
    label.textContent = select.getAttribute("data-region-label");
    var regions = document.createElement("select");
    regions.id = "region";
    var choose = document.createElement("option");
    choose.value = "";
    choose.textContent = select.getAttribute("data-region-choose");
    regions.appendChild(choose);
    var selectedGroup = -1;
    groups.forEach(function (group, index) {
      var option = document.createElement("option");
      option.value = String(index);
      option.textContent = group.label;
      regions.appendChild(option);
      group.options.forEach(function (place) {
        if (place.selected && place.value) { selectedGroup = index; }
      });
    });
    wrapper.appendChild(label);
    wrapper.appendChild(regions);
    var field = select.closest(".field");
    field.parentNode.insertBefore(wrapper, field);

    function showGroup(index) {
      var keep = select.value;
      while (select.firstChild) { select.removeChild(select.firstChild); }
      if (placeholder) { select.appendChild(placeholder); }
      if (index < 0) { select.disabled = true; select.value = ""; return; }
      select.disabled = false;
      groups[index].options.forEach(function (place) { select.appendChild(place); });
      select.value = keep;
      if (select.value !== keep) { select.value = ""; }
      // A region with a single choice (abroad) needs no second pick.
      if (groups[index].options.length === 1) { select.value = groups[index].options[0].value; }
    }
    regions.value = selectedGroup >= 0 ? String(selectedGroup) : "";
    showGroup(selectedGroup);
    regions.addEventListener("change", function () {
      showGroup(regions.value === "" ? -1 : parseInt(regions.value, 10));
    });
  }
})();
