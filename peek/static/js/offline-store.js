// PeekStore: what a device keeps for offline use, in IndexedDB.
//
//   live:   the latest HTML of each offline live element, by element id
//   outbox: actions waiting to be delivered, in the order they were taken
//
// Every call returns a Promise; a browser without IndexedDB (or one that
// refuses it, as private windows may) gets rejections, and the pages work
// online as before.
(function () {
  "use strict";
  var opening = null;

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
      });
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
