// Peek's service worker: the mobile and desktop sites offline.
//
// Every request goes to the network first, so an online device always sees
// current pages.  A copy is kept of the static files (the sites' and the
// plugins') and of pages whose response says X-Peek-Offline (pages opt in);
// when the network fails, the kept copy answers.
// Live data and the action outbox are the pages' business (vortex-live.js,
// vortex-outbox.js); the worker never touches the websockets or the API.
"use strict";

var CACHE = "peek-offline-v1";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf("peek-offline-") === 0 && name !== CACHE;
    }).map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

function isStatic(url) {
  return url.pathname.indexOf("/static/") >= 0;
}

function keep(request, response) {
  var url = new URL(request.url);
  var wanted = isStatic(url) || response.headers.get("X-Peek-Offline") === "1";
  if (!response.ok || !wanted) return;
  var copy = response.clone();
  caches.open(CACHE).then(function (cache) { cache.put(request, copy); });
}

function fromCache(request) {
  return caches.open(CACHE).then(function (cache) {
    return cache.match(request);
  }).then(function (kept) { return kept || Response.error(); });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin
      || url.pathname.indexOf("/vortex/") === 0) {
    return;  // the browser's own handling
  }
  event.respondWith(fetch(request).then(function (response) {
    keep(request, response);
    return response;
  }, function () {
    return fromCache(request);
  }));
});
