// Live elements of Peek's mobile and desktop pages.
//
// htmx's websocket extension (htmx-ext-ws 2.0.4) holds the page's socket to
// /vortex/live and swaps the HTML the client service sends into the element
// with the same id.  This script subscribes every [data-vortex-partial]
// element each time the socket opens, so after any reconnect the server
// sends the current HTML again and nothing stale stays on screen.
//
// Elements marked data-vortex-offline keep their latest HTML in PeekStore;
// while the page has no connection they show it, marked as possibly stale.
(function () {
  "use strict";
  var socket = null;
  var connected = false;
  var reopening = false;
  var signedOut = false;
  // The extension retries by itself only after these close codes.
  var RETRIED = [1006, 1011, 1012, 1013];
  var OFFLINE_AFTER_MS = 3000;

  function subscribeAll() {
    if (!socket) return;
    document.querySelectorAll("[data-vortex-partial]").forEach(function (element) {
      socket.send(JSON.stringify({
        type: "subscribe",
        partial: element.dataset.vortexPartial,
        selector: JSON.parse(element.dataset.vortexSelector)
      }));
    });
  }

  function showStatus(state, text) {
    var indicator = document.getElementById("vortex-status");
    if (indicator) {
      indicator.dataset.state = state;
      indicator.textContent = text;
    }
  }

  function offline() {
    connected = false;
    showStatus("offline", "Offline");
    restoreKept();
  }

  // -- offline copies of live elements -------------------------------------------------
  function restoreKept() {
    if (!window.PeekStore) return;
    document.querySelectorAll("[data-vortex-offline]").forEach(function (element) {
      if (element.hasAttribute("data-vortex-stale")) return;
      PeekStore.get("live", element.id).then(function (kept) {
        if (connected) return;
        if (kept) element.innerHTML = kept.html;
        var when = kept ? new Date(kept.at).toLocaleString() : "when this page was saved";
        element.setAttribute("data-vortex-stale", "Offline: as of " + when +
                             ", may be out of date");
      }).catch(function () {});
    });
  }

  function keep(id) {
    var element = document.getElementById(id);
    if (!element) return;
    element.removeAttribute("data-vortex-stale");
    if (window.PeekStore && element.hasAttribute("data-vortex-offline")) {
      PeekStore.put("live", {id: id, html: element.innerHTML, at: Date.now()})
        .catch(function () {});
    }
  }

  document.addEventListener("htmx:wsAfterMessage", function (event) {
    var found = /^<div id="(vx-[0-9a-f]+)"/.exec(event.detail.message);
    if (found) keep(found[1]);
    else if (/id="vortex-status"[^>]*data-state="connected"/.test(event.detail.message)) {
      connected = true;
    }
    else if (/id="vortex-status"[^>]*data-state="signed-out"/.test(event.detail.message)) {
      signedOut = true;  // revoked or signed out elsewhere: the reload asks to sign in
      setTimeout(function () { window.location.reload(); }, 500);
    }
  });

  // -- the connection --------------------------------------------------------------------
  document.addEventListener("htmx:wsOpen", function (event) {
    socket = event.detail.socketWrapper;
    subscribeAll();
  });

  document.addEventListener("htmx:wsClose", function (event) {
    connected = false;
    if (signedOut) return;
    if (reopening) {  // the socket the "online" handler replaced
      reopening = false;
      return;
    }
    if (navigator.onLine === false) offline();
    else showStatus("reconnecting", "Reconnecting…");
    if (RETRIED.indexOf(event.detail.event.code) < 0) {
      var wrapper = event.detail.socketWrapper;
      setTimeout(function () { wrapper.reconnect(); }, 1000 + Math.random() * 2000);
    }
  });

  window.addEventListener("offline", offline);
  // A socket may outlive a short offline spell without a word from the
  // server: open a new one, which gets the link's state and current data.
  window.addEventListener("online", function () {
    if (connected) return;
    showStatus("reconnecting", "Reconnecting…");
    if (socket) {
      reopening = true;
      socket.reconnect();
    }
  });

  // A page reopened without a connection shows what the device kept.
  window.addEventListener("load", function () {
    setTimeout(function () { if (!connected) offline(); }, OFFLINE_AFTER_MS);
  });

  // A tab that was hidden may have missed updates its browser throttled: resync.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") subscribeAll();
  });

  if ("serviceWorker" in navigator && window.isSecureContext) {
    window.addEventListener("load", function () {
      navigator.serviceWorker.register("/service-worker.js", {scope: "/"})
        .catch(function (error) { console.warn("Peek offline use unavailable:", error); });
    });
  }
})();
