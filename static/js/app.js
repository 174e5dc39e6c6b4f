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
        // --- stream refused or closed (calls helper): htmx's sse extension opens a new
        // SharedEventSource after a growing pause (0.5 s … 64 s); this one leaves the worker,
        // or every earlier attempt would schedule a retry of its own on the next error.
        if (msg.readyState === 2) self.port.postMessage({ type: "bye" });
      } else if (msg.type === "event") {
        var relayed = new MessageEvent(msg.event, { data: msg.data, lastEventId: msg.id });
        relayed.alert = msg.alert === true; // the worker picks one tab to notify and ring
        target.dispatchEvent(relayed);
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

  // Ended calls collapse to one line at once and fade out after data-dismiss-after seconds.
  function scheduleDismiss(banner) {
    var seconds = parseInt(banner.getAttribute("data-dismiss-after") || "0", 10);
    if (!seconds) return;
    setTimeout(function () {
      banner.classList.add("fading");
      setTimeout(function () { banner.remove(); layoutBanners(); }, 700);
    }, seconds * 1000);
  }

  // --- banner stack (mobile helper): phones show one banner as a bottom sheet, desktops at most three;
  // the rest are counted on a "n weitere" button that expands the stack.
  var PHONE = window.matchMedia("(max-width: 767.98px)");
  var PRIORITY = { ringing: 0, accepted: 1 };

  function layoutBanners() {
    var box = document.getElementById("call-banners");
    if (!box) return;
    var banners = Array.prototype.slice.call(box.querySelectorAll(".call-banner"));
    var ranked = banners.slice().reverse().sort(function (a, b) {
      var pa = PRIORITY[a.dataset.callStatus], pb = PRIORITY[b.dataset.callStatus];
      return (pa === undefined ? 2 : pa) - (pb === undefined ? 2 : pb);
    });
    var limit = box.classList.contains("expanded") ? banners.length : (PHONE.matches ? 1 : 3);
    ranked.forEach(function (banner, index) { banner.classList.toggle("stacked-away", index >= limit); });
    var more = box.querySelector("[data-banners-more]");
    var away = Math.max(banners.length - limit, 0);
    if (more) {
      more.hidden = away === 0 && !box.classList.contains("expanded");
      more.textContent = box.classList.contains("expanded") ? "▴" :
        (away === 1 ? box.dataset.moreOne : (box.dataset.moreMany || "").replace("{n}", away));
    }
    if (!banners.length) box.classList.remove("expanded");
    var header = document.querySelector(".topbar");
    box.style.top = PHONE.matches || !header ? "" : Math.max(header.getBoundingClientRect().bottom + 8, 8) + "px";
    document.body.classList.toggle("has-call-banners", banners.length > 0);
    // Phones: the page keeps room below its content for the sheet, so nothing stays hidden under it.
    document.documentElement.style.setProperty("--call-sheet-height", (PHONE.matches ? box.offsetHeight : 0) + "px");
    updateTitle(box);
  }

  // The tab title names the caller while a call rings: "☎ Müller GmbH".
  var ownTitle = null, pageTitle = document.title;

  function updateTitle(box) {
    if (document.title !== ownTitle) pageTitle = document.title; // a boosted navigation changed it
    var ringing = box.querySelectorAll('.call-banner[data-call-status="ringing"]');
    ownTitle = ringing.length ? "☎ " + ringing[ringing.length - 1].dataset.caller : pageTitle;
    document.title = ownTitle;
  }

  // The navigation's count of missed calls without callback, carried on every banner.
  function updateMissedCount(banner) {
    var count = banner.dataset.missedCalls;
    if (count === undefined) return;
    document.querySelectorAll("[data-missed-count]").forEach(function (badge) {
      badge.textContent = count;
      badge.hidden = count === "0";
    });
  }

  // Notice without looking: the user's opt-ins (Meine Einstellungen) for a desktop notification and a ring.
  function alertsWanted(name) {
    var settings = document.getElementById("call-alerts");
    return !!settings && settings.dataset[name] === "on";
  }

  function notifyDesktop(banner) {
    if (!alertsWanted("desktopNotifications") || !window.Notification || Notification.permission !== "granted") return;
    var title = banner.querySelector(".call-banner-title");
    var lines = Array.prototype.map.call(banner.querySelectorAll(".call-banner-number, .call-banner-dialled"),
                                         function (line) { return line.textContent.trim(); });
    var notification = new Notification("☎ " + banner.dataset.caller,
                                         { body: [title ? title.textContent : ""].concat(lines).join("\n"), tag: banner.id });
    notification.onclick = function () {
      window.focus();
      if (banner.dataset.addressUrl) window.location.assign(banner.dataset.addressUrl);
      notification.close();
    };
  }

  var audio = null;

  function ring() {
    if (!alertsWanted("ringSound")) return;
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    try {
      audio = audio || new Context();
      // Two short, quiet tones (about a second in all).
      [0, 0.45].forEach(function (start) {
        var tone = audio.createOscillator(), volume = audio.createGain(), at = audio.currentTime + start;
        tone.frequency.value = 880;
        volume.gain.setValueAtTime(0.0001, at);
        volume.gain.exponentialRampToValueAtTime(0.06, at + 0.03);
        volume.gain.exponentialRampToValueAtTime(0.0001, at + 0.35);
        tone.connect(volume).connect(audio.destination);
        tone.start(at);
        tone.stop(at + 0.4);
      });
    } catch (e) { /* the browser refused audio before any click on the page: stay silent */ }
  }

  // A call has exactly one banner: replace it by id, or add it when new.
  function upsertBanner(html, alert) {
    var box = document.getElementById("call-banners");
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    var banner = template.content.firstElementChild;
    if (!box || !banner || !banner.id) return;
    var existing = document.getElementById(banner.id);
    var startsRinging = banner.dataset.callStatus === "ringing" && !(existing && existing.dataset.callStatus === "ringing");
    if (existing) existing.replaceWith(banner); else box.appendChild(banner);
    if (window.htmx) htmx.process(banner);
    scheduleDismiss(banner);
    updateMissedCount(banner);
    layoutBanners();
    if (alert && startsRinging) {
      notifyDesktop(banner);
      ring();
    }
  }

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; } catch (e) { return ""; }
  }

  // Closed by the user: gone in every tab at once (SharedWorker) and, through the server, after
  // a reload and on other devices.
  function removeBanner(id, byUser) {
    var banner = document.getElementById(id);
    if (banner) banner.remove();
    if (byUser && banner && banner.dataset.dismissUrl) {
      fetch(banner.dataset.dismissUrl, { method: "POST", credentials: "same-origin",
                                         headers: { "X-CSRFToken": csrfToken() } });
    }
    if (byUser && sharedPort) sharedPort.postMessage({ type: "dismiss", id: id });
    layoutBanners();
  }

  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    if (event.detail && event.detail.type === "call") {
      event.preventDefault();
      // Without the SharedWorker every tab has its own stream and alerts for itself.
      upsertBanner(event.detail.data, sharedPort ? event.detail.alert === true : true);
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-dismiss-banner]");
    if (button) removeBanner(button.closest(".call-banner").id, true);
    if (event.target.closest("[data-banners-more]")) {
      document.getElementById("call-banners").classList.toggle("expanded");
      layoutBanners();
    }
  });

  PHONE.addEventListener("change", layoutBanners);
  document.addEventListener("htmx:afterSettle", function () {
    var box = document.getElementById("call-banners");
    if (box) updateTitle(box);
  });

  // Asking for the browser's permission needs a click: the switch in "Meine Einstellungen".
  document.addEventListener("change", function (event) {
    if (event.target.name === "desktop_notifications" && event.target.checked && window.Notification &&
        Notification.permission === "default") {
      Notification.requestPermission();
    }
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
