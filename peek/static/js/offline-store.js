// PeekStore: what a device keeps for offline use, in IndexedDB.
//
//   live:   the latest HTML of each offline live element, by element id
//   outbox: actions waiting to be delivered, in the order they were taken
//
// Every call returns a Promise; a browser without IndexedDB (or one that
// refuses it, as private windows may) gets rejections, and the pages work
// online as before.
//
// What is kept belongs to the user signed in when it was kept (the page's
// data-peek-user).  When another user signs in on this browser, what the
// one before left is forgotten before anything reads it: the live copies,
// the pages the service worker cached, and the other users' outbox entries.
(function () {
  "use strict";
  var OWNER_KEY = "peek.user";
  var opening = null;

  function me() {
    return (document.body && document.body.dataset.peekUser) || "";
  }

  function lastOwner() {
    try { return window.localStorage.getItem(OWNER_KEY); } catch (e) { return null; }
  }

  function forgetOthers(db) {
    var current = me();
    if (lastOwner() === current) return Promise.resolve(db);
    return new Promise(function (resolve, reject) {
      var tx = db.transaction(["live", "outbox"], "readwrite");
      tx.objectStore("live").clear();
      var outbox = tx.objectStore("outbox");
      outbox.getAll().onsuccess = function (event) {
        event.target.result.forEach(function (entry) {
          if ((entry.user || "") !== current) outbox.delete(entry.seq);
        });
      };
      tx.oncomplete = function () { resolve(db); };
      tx.onerror = tx.onabort = function () { reject(tx.error); };
    }).then(function () {
      var cleared = window.caches ? caches.keys().then(function (names) {
        return Promise.all(names.map(function (name) { return caches.delete(name); }));
      }) : Promise.resolve();
      return cleared.catch(function () {}).then(function () {
        try { window.localStorage.setItem(OWNER_KEY, current); } catch (e) { /* private */ }
        return db;
      });
    });
  }

  function open() {
    if (!opening) {
      opening = new Promise(function (resolve, reject) {
        if (!window.indexedDB) { reject(new Error("no IndexedDB")); return; }
        var request = indexedDB.open("peek", 1);
        request.onupgradeneeded = function () {
          request.result.createObjectStore("live", {keyPath: "id"});
          request.result.createObjectStore("outbox", {keyPath: "seq", autoIncrement: true});
        };
        request.onsuccess = function () { resolve(request.result); };
        request.onerror = function () { reject(request.error); };
      }).then(forgetOthers);
    }
    return opening;
  }

  function run(store, mode, work) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(store, mode);
        var result = work(tx.objectStore(store));
        tx.oncomplete = function () { resolve(result && result.result); };
        tx.onerror = tx.onabort = function () { reject(tx.error); };
      });
    });
  }

  window.PeekStore = {
    // The user what is kept now belongs to ("" with no sign-in).
    user: me,
    put: function (store, value) {
      return run(store, "readwrite", function (s) { return s.put(value); });
    },
    get: function (store, key) {
      return run(store, "readonly", function (s) { return s.get(key); });
    },
    all: function (store) {
      return run(store, "readonly", function (s) { return s.getAll(); });
    },
    remove: function (store, key) {
      return run(store, "readwrite", function (s) { return s.delete(key); });
    }
  };
})();
