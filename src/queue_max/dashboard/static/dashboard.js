// queue-max dashboard: live updates without reloading the page.
// Re-fetches the current page with If-None-Match every data-poll seconds; a 304 costs the
// server one data_version read. Polling pauses while the tab is hidden, and a refresh is
// skipped while the user is typing in a form or has ticked a checkbox.
(function () {
  "use strict";
  var body = document.body;
  if (!body || body.dataset.live !== "on" || !window.fetch || !window.DOMParser) {
    return;
  }
  var poll = Math.max(1, parseFloat(body.dataset.poll) || 5) * 1000;
  var etag = body.dataset.etag || "";
  var state = document.getElementById("live-state");
  var timer = null;
  var busy = false;

  function show(text, level) {
    if (state) {
      state.textContent = text;
      state.className = "live " + (level || "");
    }
  }

  function userIsEditing(main) {
    var active = document.activeElement;
    if (active && main.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName)) {
      return true;
    }
    return main.querySelector("input[type=checkbox]:checked") !== null;
  }

  function replaceMain(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    var next = fresh.getElementById("main");
    var main = document.getElementById("main");
    if (!next || !main) {
      return false;
    }
    main.replaceChildren.apply(main, Array.prototype.slice.call(next.childNodes).map(function (node) {
      return document.importNode(node, true);
    }));
    return true;
  }

  function schedule() {
    clearTimeout(timer);
    timer = null;
    if (!document.hidden) {
      timer = setTimeout(check, poll);
    }
  }

  function check() {
    var main = document.getElementById("main");
    if (busy || document.hidden || !main) {
      return;
    }
    if (userIsEditing(main)) {
      schedule();
      return;
    }
    busy = true;
    fetch(window.location.href, {
      headers: { "If-None-Match": etag, "X-Queue-Max-Poll": "1" },
      credentials: "same-origin",
      cache: "no-store",
      redirect: "manual"
    }).then(function (response) {
      if (response.status === 304) {
        show("live", "ok");
        return null;
      }
      if (response.status !== 200) {
        show("updates paused (" + response.status + ")", "bad");
        return null;
      }
      var tag = response.headers.get("ETag");
      return response.text().then(function (html) {
        if (!userIsEditing(main) && replaceMain(html)) {
          etag = tag || etag;
          body.dataset.etag = etag;
          body.dataset.updates = String((parseInt(body.dataset.updates, 10) || 0) + 1);
          show("live · updated " + new Date().toLocaleTimeString(), "ok");
        }
      });
    }).catch(function () {
      show("offline", "bad");
    }).then(function () {
      busy = false;
      schedule();
    });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      clearTimeout(timer);
      timer = null;
      show("paused", "");
    } else {
      check();
    }
  });
  show("live", "ok");
  schedule();
}());
