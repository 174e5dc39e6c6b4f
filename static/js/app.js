// Small behaviours of the app; everything else is htmx.
(function () {
  "use strict";

  // Close open dropdown menus when clicking elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.dropdown[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });

  // ------------------------------------------------------------------ failed requests
  // htmx swaps 2xx and 422 (forms with their errors, see htmx-config in base.html); any other
  // 4xx/5xx and a lost connection would otherwise do nothing visible, so they get a toast
  // with the server's own reason when it sent one (errors/_message.html, errors/error.html).
  var REASON_MAX = 300;

  function serverReason(xhr) {
    var type = (xhr.getResponseHeader("Content-Type") || "").toLowerCase();
    var text = xhr.responseText || "";
    if (!text) return "";
    if (type.indexOf("json") !== -1) {
      try { return String(JSON.parse(text).error || ""); } catch (e) { return ""; }
    }
    if (type.indexOf("html") === -1) return text.trim().slice(0, REASON_MAX);
    var doc = new DOMParser().parseFromString(text, "text/html");
    var alert = doc.querySelector("main [role=alert], main .flash-error, [role=alert], .flash-error");
    return alert ? alert.textContent.replace(/\s+/g, " ").trim().slice(0, REASON_MAX) : "";
  }

  function showRequestError(text) {
    var box = document.getElementById("request-error");
    if (!box) return;
    var message = document.createElement("div");
    message.className = "dial-message dial-error";
    message.setAttribute("role", "alert");
    var paragraph = document.createElement("p");
    paragraph.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "dial-close";
    close.setAttribute("aria-label", box.dataset.close || "×");
    close.textContent = "×";
    close.addEventListener("click", function () { message.remove(); });
    message.appendChild(paragraph);
    message.appendChild(close);
    box.replaceChildren(message);
  }

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var box = document.getElementById("request-error");
    if (!box || !xhr) return;
    var reason = serverReason(xhr);
    var text = (box.dataset.failed || "").replace("{status}", xhr.status);
    showRequestError(reason ? text + " " + reason : text);
  });

  ["htmx:sendError", "htmx:timeout"].forEach(function (name) {
    document.addEventListener(name, function () {
      var box = document.getElementById("request-error");
      if (box) showRequestError(box.dataset.offline || "");
    });
  });

  // A form answered 422 comes back with its errors: bring the first wrong field into view and focus it,
  // so that on a phone the message is not hidden below the fold.
  document.addEventListener("htmx:afterSettle", function (event) {
    if (!event.detail.xhr || event.detail.xhr.status !== 422) return;
    var target = event.detail.target || document.body;
    var invalid = target.querySelector("[aria-invalid=true]");
    if (!invalid) return;
    // After htmx's own scrolling (boosted forms scroll to the top once settled).
    setTimeout(function () {
      invalid.focus({ preventScroll: true });
      invalid.scrollIntoView({ block: "center" });
    }, 0);
  });

  // A new request clears an old failure message.
  document.addEventListener("htmx:beforeRequest", function () {
    var box = document.getElementById("request-error");
    if (box) box.replaceChildren();
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
        // --- stream refused or closed (calls helper): htmx's sse extension opens a new
        // SharedEventSource after a growing pause (0.5 s … 64 s); this one leaves the worker,
        // or every earlier attempt would schedule a retry of its own on the next error.
        if (msg.readyState === 2) self.port.postMessage({ type: "bye" });
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

  // --- close buttons (auth helper): no inline handlers, the Content-Security-Policy forbids them.
  // <button data-dismiss-closest=".dial-message"> removes the closest element matching the selector.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-dismiss-closest]");
    var target = button && button.closest(button.getAttribute("data-dismiss-closest"));
    if (target) target.remove();
  });

  // <input data-enter-searches>: Enter searches at once instead of submitting the surrounding form
  // (htmx trigger filters would need eval, which the Content-Security-Policy forbids).
  document.addEventListener("keydown", function (event) {
    var input = event.target.closest && event.target.closest("[data-enter-searches]");
    if (!input || event.key !== "Enter") return;
    event.preventDefault();
    if (window.htmx) htmx.trigger(input, "search");
  });
})();

// ------------------------------------------------------------------ copy buttons
// <button data-copy="ID" data-copied-label="Kopiert"> copies the value (inputs) or the text of #ID.
(function () {
  "use strict";
  function copyText(text) {
    // The clipboard API needs HTTPS or localhost; an office server on plain HTTP gets the old way.
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "copy-buffer";
    document.body.appendChild(area);
    area.select();
    var done = document.execCommand("copy");
    area.remove();
    return done ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var text = "value" in source ? source.value : source.textContent.trim();
    copyText(text).then(function () {
      if (!button.dataset.label) button.dataset.label = button.textContent;
      button.textContent = button.getAttribute("data-copied-label") || button.dataset.label;
      setTimeout(function () { button.textContent = button.dataset.label; }, 2000);
    }, function () { if ("select" in source) source.select(); /* the text stays there to copy by hand */ });
  });
})();
