// Small behaviours of the app; everything else is htmx.
(function () {
  "use strict";

  // Close open dropdown menus when clicking elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.dropdown[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });

  // The menu button of narrow screens opens and closes the navigation.
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-menu-toggle]");
    if (!toggle) return;
    var bar = toggle.closest(".topbar");
    var open = !bar.classList.contains("nav-open");
    bar.classList.toggle("nav-open", open);
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });

  // ------------------------------------------------------------------ call banners
  // One SSE stream per browser: a SharedWorker holds the EventSource and relays
  // its events to every tab, so ten tabs use one connection, not ten. Without
  // SharedWorker support each tab falls back to its own EventSource.
  var WORKER_URL = document.currentScript ? document.currentScript.src.replace(/app\.js.*$/, "event-worker.js") : "/static/js/event-worker.js";
  var sharedPort = null;

  function SharedEventSource(url) {
    var target = new EventTarget();
    var self = this;
    var box = document.getElementById("call-banners");
    this.url = url;
    this.readyState = 0;
    this.onopen = null;
    this.onerror = null;
    this.addEventListener = target.addEventListener.bind(target);
    this.removeEventListener = target.removeEventListener.bind(target);
    var worker = new SharedWorker(WORKER_URL, { name: "telephone-events" });
    this.port = worker.port;
    sharedPort = this.port;
    this.port.onmessage = function (message) {
      var msg = message.data;
      if (msg.type === "open") {
        self.readyState = 1;
        if (self.onopen) self.onopen(new Event("open"));
      } else if (msg.type === "error") {
        self.readyState = msg.readyState;
        if (self.onerror) self.onerror(new Event("error"));
      } else if (msg.type === "event") {
        target.dispatchEvent(new MessageEvent(msg.event, { data: msg.data, lastEventId: msg.id }));
      } else if (msg.type === "dismiss") {
        removeBanner(msg.id, false);
      }
    };
    this.port.start();
    this.port.postMessage({ type: "connect", url: new URL(url, location.href).href, user: box ? box.dataset.user : "" });
    this.close = function () {
      if (self.readyState === 2) return;
      self.readyState = 2;
      self.port.postMessage({ type: "bye" });
    };
    window.addEventListener("pagehide", this.close);
  }

  if (window.htmx) {
    htmx.createEventSource = function (url) {
      if (window.SharedWorker) {
        try { return new SharedEventSource(url); } catch (e) { /* fall back below */ }
      }
      return new EventSource(url, { withCredentials: true });
    };
  }

  function scheduleDismiss(banner) {
    var seconds = parseInt(banner.getAttribute("data-dismiss-after") || "0", 10);
    if (!seconds) return;
    setTimeout(function () {
      banner.classList.add("fading");
      setTimeout(function () { banner.remove(); }, 700);
    }, seconds * 1000);
  }

  // A call has exactly one banner: replace it by id, or add it when new.
  function upsertBanner(html) {
    var box = document.getElementById("call-banners");
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    var banner = template.content.firstElementChild;
    if (!box || !banner || !banner.id) return;
    var existing = document.getElementById(banner.id);
    if (existing) existing.replaceWith(banner); else box.appendChild(banner);
    if (window.htmx) htmx.process(banner);
    scheduleDismiss(banner);
  }

  function removeBanner(id, everywhere) {
    var banner = document.getElementById(id);
    if (banner) banner.remove();
    if (everywhere && sharedPort) sharedPort.postMessage({ type: "dismiss", id: id });
  }

  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    if (event.detail && event.detail.type === "call") {
      event.preventDefault();
      upsertBanner(event.detail.data);
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-dismiss-banner]");
    if (button) removeBanner(button.closest(".call-banner").id, true);
  });
})();
