// SharedWorker: holds the one EventSource of this browser and relays its events
// to every open tab. It remembers the current banners so that a tab opened
// later shows them too; ended banners are forgotten after a short while.
"use strict";

var ports = new Set();
var source = null;
var streamUser = null;
var banners = new Map(); // banner element id -> {msg, ended, at}
var ENDED_KEEP_MS = 20000;
var MAX_AGE_MS = 2 * 3600 * 1000;

function broadcast(msg) {
  ports.forEach(function (port) { port.postMessage(msg); });
}

function remember(msg) {
  var id = /id="(call-[^"]+)"/.exec(msg.data);
  if (!id) return;
  var status = /data-call-status="([a-z_]+)"/.exec(msg.data);
  var ended = !status || (status[1] !== "ringing" && status[1] !== "accepted");
  banners.set(id[1], { msg: msg, ended: ended, at: Date.now() });
}

function current() {
  var now = Date.now();
  banners.forEach(function (entry, id) {
    if (now - entry.at > (entry.ended ? ENDED_KEEP_MS : MAX_AGE_MS)) banners.delete(id);
  });
  return Array.from(banners.values()).map(function (entry) { return entry.msg; });
}

function open(url, user) {
  if (source) source.close();
  banners.clear();
  streamUser = user;
  source = new EventSource(url, { withCredentials: true });
  source.onopen = function () { broadcast({ type: "open" }); };
  source.onerror = function () { broadcast({ type: "error", readyState: source.readyState }); };
  source.addEventListener("call", function (event) {
    var msg = { type: "event", event: "call", data: event.data, id: event.lastEventId };
    remember(msg);
    // Live events: exactly one tab raises the desktop notification and rings (the first one still open).
    var first = true;
    ports.forEach(function (port) {
      port.postMessage(first ? Object.assign({ alert: true }, msg) : msg);
      first = false;
    });
  });
}

self.onconnect = function (connectEvent) {
  var port = connectEvent.ports[0];
  port.onmessage = function (message) {
    var msg = message.data;
    if (msg.type === "connect") {
      ports.add(port);
      if (!source || source.readyState === 2 || streamUser !== msg.user) {
        open(msg.url, msg.user);
      } else if (source.readyState === 1) {
        port.postMessage({ type: "open" });
      }
      current().forEach(function (banner) { port.postMessage(banner); });
    } else if (msg.type === "bye") {
      ports.delete(port);
    } else if (msg.type === "dismiss") {
      banners.delete(msg.id);
      ports.forEach(function (other) { if (other !== port) other.postMessage(msg); });
    }
  };
  port.start();
};
