// Work in progress refreshes itself: every element with class "portal-refresh" fetches its
// data-refresh-url every data-refresh-seconds and swaps the answer in, until the answer says
// it is done (an element with data-done="1"), so pending rows and a bulk action's progress
// move without a full reload. A static file because the CSP forbids inline script; without
// JavaScript a reload shows the same.
(function () {
  "use strict";
  if (!window.fetch) { return; }
  function done(box) {
    var state = box.querySelector("[data-done]");
    return state !== null && state.getAttribute("data-done") === "1";
  }
  function follow(box) {
    var url = box.getAttribute("data-refresh-url");
    var seconds = parseInt(box.getAttribute("data-refresh-seconds"), 10) || 3;
    var timer = null;
    function refresh() {
      if (document.hidden) { return; }
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html === null) { return; }
          box.innerHTML = html;
          if (done(box)) { window.clearInterval(timer); box.classList.add("portal-refresh-done"); }
        })
        .catch(function () { /* the portal is restarting: the next tick tries again */ });
    }
    if (!url || done(box)) { return; }
    timer = window.setInterval(refresh, seconds * 1000);
  }
  function start() {
    var boxes = document.querySelectorAll(".portal-refresh");
    for (var i = 0; i < boxes.length; i++) { follow(boxes[i]); }
  }
  // The admin's Media puts the script in <head> without defer: wait for the rows.
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
