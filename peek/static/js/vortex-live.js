// Live elements of Peek's mobile and desktop pages.
//
// htmx's websocket extension (htmx-ext-ws 2.0.4) holds the page's socket to
// /vortex/live and swaps the HTML the client service sends into the element
// with the same id.  This script subscribes every [data-vortex-partial]
// element each time the socket opens, so after any reconnect the server
// sends the current HTML again and nothing stale stays on screen.
(function () {
  "use strict";
  var socket = null;
  // The extension retries by itself only after these close codes.
  var RETRIED = [1006, 1011, 1012, 1013];

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

  document.addEventListener("htmx:wsOpen", function (event) {
    socket = event.detail.socketWrapper;
    subscribeAll();
  });

  document.addEventListener("htmx:wsClose", function (event) {
    showStatus("reconnecting", "Reconnecting…");
    if (RETRIED.indexOf(event.detail.event.code) < 0) {
      var wrapper = event.detail.socketWrapper;
      setTimeout(function () { wrapper.reconnect(); }, 1000 + Math.random() * 2000);
    }
  });

  // A tab that was hidden may have missed updates its browser throttled: resync.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") subscribeAll();
  });
})();
