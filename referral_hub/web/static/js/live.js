// Live pages: while a page shows a part marked data-live (the provider inbox, the intake
// dashboard, a bundle), one EventSource per tab hears "a referral changed" and asks that
// part to fetch itself again through its normal route (the htmx trigger `hub-live`). The
// part's polling stays: it is skipped while the stream is open and resumes whenever the
// stream is refused or lost. Without JavaScript the parts have a refresh link.
(function () {
  "use strict";
  var source = null;
  var refusals = 0;
  var waiting = null;

  // on <html>, for styles and tests: "open" while changes are heard
  function mark(state) {
    if (state) {
      document.documentElement.setAttribute("data-live-state", state);
    } else {
      document.documentElement.removeAttribute("data-live-state");
    }
  }

  function parts() {
    return document.querySelectorAll("[data-live]");
  }

  // a bundle page refreshes for its own bundle only; lists refresh for any change
  function refresh(bundle) {
    if (!window.htmx) { return; }
    parts().forEach(function (part) {
      var only = part.getAttribute("data-live-bundle");
      if (bundle && only && only !== bundle) { return; }
      window.htmx.trigger(part, "hub-live");
    });
  }

  function retryLater() {
    // refused (busy server, signed out) or failed: poll meanwhile, ask again later
    refusals += 1;
    var seconds = Math.min(300, 15 * Math.pow(2, refusals - 1)) * (0.5 + Math.random() / 2);
    waiting = window.setTimeout(function () { waiting = null; connect(); }, seconds * 1000);
  }

  function connect() {
    var first = document.querySelector("[data-live]");
    if (source || waiting || !first || !window.EventSource) { return; }
    var stream = new window.EventSource(first.getAttribute("data-live"));
    var opened = false;
    source = stream;
    stream.addEventListener("open", function () {
      if (opened) { refresh(null); }  // reconnected: what changed meanwhile was not heard
      opened = true;
      refusals = 0;
      mark("open");
    });
    stream.addEventListener("referral", function (event) {
      var change = {};
      try { change = JSON.parse(event.data); } catch (ignore) { return; }
      refresh(change.bundle || null);
    });
    stream.addEventListener("resync", function () { refresh(null); });
    stream.addEventListener("error", function () {
      mark(null);
      if (stream.readyState !== window.EventSource.CLOSED) { return; }  // it reconnects
      if (source === stream) { source = null; }
      retryLater();
    });
  }

  function follow() {
    if (parts().length) {
      connect();
    } else if (source) {  // navigated to a page with nothing live
      source.close();
      source = null;
      mark(null);
    }
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var detail = event.detail;
    var polled = !detail.requestConfig || !detail.requestConfig.triggeringEvent;
    var live = source && source.readyState === window.EventSource.OPEN;
    if (live && polled && detail.elt && detail.elt.hasAttribute("data-live")) {
      event.preventDefault();  // the stream says when this part changes
    }
  });
  document.addEventListener("htmx:afterSettle", follow);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", follow);
  } else {
    follow();
  }
}());
