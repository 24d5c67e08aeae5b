// The connectivity dashboard refreshes itself: every data-refresh-seconds it fetches the grid
// (?fragment=1, the same template the page includes) and swaps it in, without a full reload.
// A static file because the CSP forbids inline script; without JavaScript the page still reads
// whole and a reload refreshes it. A refresh waits while the operator has a diagnosis open.
(function () {
  "use strict";
  var box = document.getElementById("conn-dashboard");
  if (!box || !window.fetch) { return; }
  var url = box.getAttribute("data-refresh-url");
  var seconds = parseInt(box.getAttribute("data-refresh-seconds"), 10) || 30;
  function refresh() {
    if (document.hidden || box.querySelector("details[open]")) { return; }
    fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) { if (html !== null) { box.innerHTML = html; } })
      .catch(function () { /* the portal is restarting: the next tick tries again */ });
  }
  window.setInterval(refresh, seconds * 1000);
})();
