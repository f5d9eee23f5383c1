// Proof of work for the report form and the receipt form (progressive enhancement: the report
// form works without it, under a stricter rate limit; the receipt form needs it only while many
// wrong receipts are tried). Finds n such that SHA-256("<challenge>:<n>") starts with the
// number of zero bits the challenge names, while the reporter fills in the form.
(function () {
  "use strict";
  var BATCH = 256;
  var subtle = window.crypto && window.crypto.subtle;
  var form = document.querySelector("form.report-form, form.pow-form");
  if (!form || !subtle || !window.TextEncoder) { return; }
  var challengeInput = form.querySelector("input[name=pow_challenge]");
  var solutionInput = form.querySelector("input[name=pow_solution]");
  if (!challengeInput || !solutionInput) { return; }
  var challenge = challengeInput.value;
  var bits = parseInt(challenge.split(".")[2], 10);
  if (!(bits > 0 && bits <= 32)) { return; }
  var encoder = new TextEncoder();

  function zeroBits(buffer) {
    var bytes = new Uint8Array(buffer);
    var count = 0;
    for (var i = 0; i < bytes.length; i++) {
      if (bytes[i] === 0) { count += 8; continue; }
      var b = bytes[i];
      while ((b & 0x80) === 0) { count++; b <<= 1; }
      return count;
    }
    return count;
  }

  function tryBatch(start) {
    var digests = [];
    for (var n = start; n < start + BATCH; n++) {
      digests.push(subtle.digest("SHA-256", encoder.encode(challenge + ":" + n)));
    }
    return Promise.all(digests).then(function (results) {
      for (var i = 0; i < results.length; i++) {
        if (zeroBits(results[i]) >= bits) { return start + i; }
      }
      return null;
    });
  }

  var startedAt = Date.now();
  var solved = new Promise(function (resolve) {
    function next(start) {
      tryBatch(start).then(function (found) {
        if (found !== null) { resolve(found); } else { next(start + BATCH); }
      }, function () { resolve(null); });
    }
    next(0);
  }).then(function (nonce) {
    if (nonce !== null) {
      solutionInput.value = String(nonce);
      form.setAttribute("data-pow-ms", String(Date.now() - startedAt));
    }
    return nonce;
  });

  var submitting = false;
  form.addEventListener("submit", function (event) {
    if (solutionInput.value || submitting) { return; }
    // Not solved yet: wait (a fraction of a second on a phone), then send.
    event.preventDefault();
    submitting = true;
    solved.then(function () { form.submit(); });
  });
})();
