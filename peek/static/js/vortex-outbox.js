// The action outbox of Peek's mobile and desktop pages.
//
// A button with data-vortex-action='{"_tt": "<tuple type>", ...}' sends that
// action tuple.  Each action gets its id when it is taken and goes into the
// outbox (PeekStore), then to the client service's REST API in the order
// taken.  Without a connection it stays pending and is sent once the
// device is back online; a resend carries the same id, so the server applies
// it exactly once however often it is sent.  #vortex-outbox lists the recent
// actions with their state: pending, sent or failed (with the reason).
// A link (<a href>) with data-vortex-action takes the action, tries to send
// it for a moment, then follows the link; an action not sent by then stays
// in the outbox and the next page sends it.
//
// Only a final answer ends an entry: sent, or failed because the server
// refused the action (400, 403, 404, 413, 422).  Everything else leaves it
// pending and tries again, with a growing delay, for as long as it takes:
// no connection, a timeout (504), "not applied for now" (503, "state":
// "retry": the database, a plugin restarting), too many requests (429).  A
// 401 (the sign-in ended) keeps it pending until the user signs in again.
// Each entry is its user's (the page's data-peek-user): another user's
// entries are never sent (PeekStore forgets them when someone else signs in).
(function () {
  "use strict";
  var ENDPOINT = "/vortex/api/actions";
  var RETRY_MIN_MS = 1000, RETRY_MAX_MS = 60000;
  var retryMs = RETRY_MIN_MS;
  var FINAL = [400, 403, 404, 413, 422];
  var SHOWN = 10;
  var KEEP_SENT_MS = 10 * 60 * 1000;
  var sending = false;
  var failedNow = false;  // a failure opens the outbox, so that the user sees it
  // Without IndexedDB (or when it refuses) the outbox lives as long as the page.
  var stored = !!window.PeekStore;
  var memory = [];

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function entries() {
    if (!stored) return Promise.resolve(memory);
    return PeekStore.all("outbox").catch(function () { stored = false; return memory; });
  }

  function save(entry) {
    if (!stored) {
      if (memory.indexOf(entry) < 0) memory.push(entry);
      return Promise.resolve();
    }
    return PeekStore.put("outbox", entry).then(function (seq) { entry.seq = seq; },
                                                function () { stored = false; memory.push(entry); });
  }

  function show() {
    return entries().then(function (all) {
      var box = document.getElementById("vortex-outbox");
      if (!box) return;
      var recent = all.slice(-SHOWN);
      var pending = all.filter(function (e) { return e.state === "pending"; }).length;
      box.hidden = recent.length === 0;
      if (failedNow) box.open = true;
      failedNow = false;
      box.dataset.pending = pending;
      var list = box.querySelector("ol");
      list.textContent = "";
      recent.forEach(function (entry) {
        var item = document.createElement("li");
        item.dataset.id = entry.id;
        item.dataset.state = entry.state;
        item.textContent = entry.label + ": " + entry.state +
          (entry.error ? " (" + entry.error + ")" : "") +
          (entry.state === "pending" && entry.waiting ? " (" + entry.waiting + ")" : "");
        list.appendChild(item);
      });
      box.querySelector("summary").textContent = pending
        ? pending + " action" + (pending > 1 ? "s" : "") + " waiting to be sent"
        : "Actions sent";
    });
  }

  function me() {
    return window.PeekStore ? PeekStore.user() : (document.body.dataset.peekUser || "");
  }

  function deliver(entry) {
    return fetch(ENDPOINT, {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({type: "action", id: entry.id, tuple: entry.tuple})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        if (response.ok) {
          entry.state = "sent";
        } else if (FINAL.indexOf(response.status) >= 0 && answer.state !== "retry") {
          entry.state = "failed";
          failedNow = true;
          entry.error = answer.error || ("HTTP " + response.status);
        } else {
          // Not applied yet: the same id again later (it is applied at most once).
          entry.waiting = response.status === 401 ? "sign in again to send it"
            : (answer.error || ("HTTP " + response.status));
          return save(entry).then(function () { return false; });
        }
        entry.done = Date.now();
        delete entry.waiting;
        return save(entry).then(function () { return true; });
      });
    }, function () { return false; });  // no connection: later
  }

  function flush() {
    if (sending) return Promise.resolve();
    sending = true;
    return entries().then(function (all) {
      var user = me();
      var waiting = all.filter(function (e) {
        return e.state === "pending" && (e.user || "") === user;
      });
      var next = function (i) {
        if (i >= waiting.length) return true;
        return deliver(waiting[i]).then(function (done) {
          return show().then(function () { return done && next(i + 1); });
        });
      };
      return next(0);
    }).then(function (allSent) {
      sending = false;
      if (allSent) {
        retryMs = RETRY_MIN_MS;
        return;
      }
      // Later, and later each time (with jitter, so devices do not return together).
      setTimeout(flush, retryMs / 2 + Math.random() * retryMs / 2);
      retryMs = Math.min(RETRY_MAX_MS, retryMs * 2);
    }, function () { sending = false; });
  }

  function take(button) {
    var tuple;
    try {
      tuple = JSON.parse(button.dataset.vortexAction);
    } catch (e) {
      console.error("data-vortex-action is not JSON:", button.dataset.vortexAction);
      return;
    }
    var entry = {id: newId(), tuple: tuple, state: "pending", at: Date.now(), user: me(),
                 label: button.dataset.vortexLabel || button.textContent.trim()};
    return save(entry).then(show);
  }

  var FOLLOW_WAIT_MS = 2000;

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-vortex-action]");
    if (!button) return;
    event.preventDefault();
    var href = button.tagName === "A" ? button.getAttribute("href") : null;
    var taken = take(button);
    if (!taken) return;
    if (!href) {
      taken.then(flush);
      return;
    }
    taken.then(function () {
      return Promise.race([flush(), new Promise(function (done) {
        setTimeout(done, FOLLOW_WAIT_MS);
      })]);
    }).catch(function () {}).then(function () { window.location.href = href; });
  });

  window.addEventListener("online", flush);
  document.addEventListener("htmx:wsOpen", flush);
  window.addEventListener("load", function () {
    // Forget what was sent a while ago; show and send the rest.
    entries().then(function (all) {
      var old = all.filter(function (e) {
        return e.state !== "pending" && Date.now() - e.done > KEEP_SENT_MS;
      });
      return Promise.all(old.map(function (e) {
        return stored ? PeekStore.remove("outbox", e.seq) : null;
      }));
    }).catch(function () {}).then(show).then(flush);
  });
})();
