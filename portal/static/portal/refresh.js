// Work in progress refreshes itself: every element with class "portal-refresh" fetches its
// data-refresh-url every data-refresh-seconds and swaps the answer in, until the answer says
// it is done (an element with data-done="1"), so pending rows and a bulk action's progress
// move without a full reload. A static file because the CSP forbids inline script; without
// JavaScript a reload shows the same.
//
// Many cells of one list share one request: cells with data-refresh-batch (a URL) and
// data-refresh-id are asked for together, `?ids=1,2,3` once a tick, and the answer holds one
// element per cell, data-refresh-for="<id>". Fifty pending rows cost one request, not fifty.
(function () {
  "use strict";
  if (!window.fetch) { return; }
  function done(box) {
    var state = box.querySelector("[data-done]");
    return state !== null && state.getAttribute("data-done") === "1";
  }
  function seconds(box) {
    return parseInt(box.getAttribute("data-refresh-seconds"), 10) || 3;
  }
  function get(url) {
    return fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { return response.ok ? response.text() : null; });
  }
  function settle(box, html) {
    box.innerHTML = html;
    if (done(box)) { box.classList.add("portal-refresh-done"); }
  }
  function follow(box) {
    var url = box.getAttribute("data-refresh-url");
    var timer = null;
    function refresh() {
      if (document.hidden) { return; }
      get(url).then(function (html) {
        if (html === null) { return; }
        settle(box, html);
        if (done(box)) { window.clearInterval(timer); }
      }).catch(function () { /* the portal is restarting: the next tick tries again */ });
    }
    if (!url || done(box)) { return; }
    timer = window.setInterval(refresh, seconds(box) * 1000);
  }
  function followTogether(url, boxes) {
    var timer = null;
    function waiting() {
      return boxes.filter(function (box) { return !done(box); });
    }
    function refresh() {
      if (document.hidden) { return; }
      var left = waiting();
      if (left.length === 0) { window.clearInterval(timer); return; }
      var ids = left.map(function (box) { return box.getAttribute("data-refresh-id"); });
      var sep = url.indexOf("?") === -1 ? "?" : "&";
      get(url + sep + "ids=" + encodeURIComponent(ids.join(","))).then(function (html) {
        if (html === null) { return; }
        var answer = document.createElement("div");
        answer.innerHTML = html;
        left.forEach(function (box) {
          var id = box.getAttribute("data-refresh-id");
          var part = answer.querySelector('[data-refresh-for="' + id + '"]');
          if (part !== null) { settle(box, part.innerHTML); }
        });
        if (waiting().length === 0) { window.clearInterval(timer); }
      }).catch(function () { /* the portal is restarting: the next tick tries again */ });
    }
    if (waiting().length === 0) { return; }
    timer = window.setInterval(refresh, seconds(boxes[0]) * 1000);
  }
  function start() {
    var boxes = document.querySelectorAll(".portal-refresh");
    var groups = {};
    for (var i = 0; i < boxes.length; i++) {
      var batch = boxes[i].getAttribute("data-refresh-batch");
      if (batch && boxes[i].getAttribute("data-refresh-id")) {
        (groups[batch] = groups[batch] || []).push(boxes[i]);
      } else {
        follow(boxes[i]);
      }
    }
    Object.keys(groups).forEach(function (url) { followTogether(url, groups[url]); });
  }
  // The admin's Media puts the script in <head> without defer: wait for the rows.
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
