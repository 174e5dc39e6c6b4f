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
})();
