// Copy buttons: <button type="button" data-copy="ID" aria-label="Copy ...">Copy</button> copies
// the text of the element with that id (an input's value, else its text). A file, not onclick=
// attributes: the Content-Security-Policy allows no inline script (portal/csp.py).
// navigator.clipboard needs a secure context (https or localhost); elsewhere, or when the
// browser refuses, the text is selected so that Ctrl+C copies it, and the button says so.
"use strict";
(function () {
  function select(source) {
    if (source.select) {
      source.focus();
      source.select();
      return;
    }
    var range = document.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function say(button, words) {
    var label = button.dataset.copyLabel || button.textContent;
    button.dataset.copyLabel = label;
    button.textContent = words;
    button.classList.add("copy-done");
    var status = document.getElementById(button.dataset.copy + "-copy-status");
    if (status) {
      status.textContent = words;  // a live region: screen readers hear it too
    }
    window.setTimeout(function () {
      button.textContent = label;
      button.classList.remove("copy-done");
    }, 4000);
  }

  function copy(button) {
    var source = document.getElementById(button.dataset.copy);
    if (!source) {
      return;
    }
    var text = "value" in source && source.tagName !== "BUTTON" ? source.value : source.textContent;
    function fallback() {
      select(source);
      say(button, "Selected: press Ctrl+C");
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () {
        say(button, "Copied");
      }, fallback);
    } else {
      fallback();
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (button) {
      event.preventDefault();
      copy(button);
      return;
    }
    var field = event.target.closest("[data-select-on-click]");
    if (field) {
      select(field);
    }
  });
})();
