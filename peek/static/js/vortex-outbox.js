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
(function () {
  "use strict";
  var ENDPOINT = "/vortex/api/actions";
  var RETRY_MS = 5000;
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
          (entry.error ? " (" + entry.error + ")" : "");
        list.appendChild(item);
      });
      box.querySelector("summary").textContent = pending
        ? pending + " action" + (pending > 1 ? "s" : "") + " waiting to be sent"
        : "Actions sent";
    });
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
        } else if (response.status === 504 || response.status >= 500) {
          return false;  // no answer yet: send the same id again later
        } else {
          entry.state = "failed";
          failedNow = true;
          entry.error = answer.error || ("HTTP " + response.status);
        }
        entry.done = Date.now();
        return save(entry).then(function () { return true; });
      });
    }, function () { return false; });  // no connection: later
  }

  function flush() {
    if (sending) return Promise.resolve();
    sending = true;
    return entries().then(function (all) {
      var waiting = all.filter(function (e) { return e.state === "pending"; });
      var next = function (i) {
        if (i >= waiting.length) return true;
        return deliver(waiting[i]).then(function (done) {
          return show().then(function () { return done && next(i + 1); });
        });
      };
      return next(0);
    }).then(function (allSent) {
      sending = false;
      if (!allSent) setTimeout(flush, RETRY_MS);
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
    var entry = {id: newId(), tuple: tuple, state: "pending", at: Date.now(),
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
