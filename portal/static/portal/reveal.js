// The one-time key reveal: select on click, copy with the button. A file, not onclick=
// attributes, so the Content-Security-Policy allows no inline script.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var field = document.getElementById("litellm-raw-key");
  var button = document.getElementById("litellm-copy-key");
  if (!field || !button) {
    return;
  }
  field.addEventListener("click", function () {
    field.select();
  });
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(field.value).then(function () {
      button.textContent = "Copied";
    });
  });
});
