// Herald console: live updates over Server-Sent Events. No framework, no
// build step; the pages work without it (it only adds live updates).
"use strict";

(function () {
  // liveTail streams a topic's new records into the message table.
  function liveTail(button) {
    var table = document.getElementById("records");
    var body = table.tBodies[0];
    var source = null;
    button.addEventListener("click", function () {
      if (source) {
        source.close();
        source = null;
        delete button.dataset.state;
        button.setAttribute("aria-pressed", "false");
        button.textContent = "Live tail";
        return;
      }
      // A person reads a few records a second: the server sends the newest
      // 20 a second per partition and says what it skipped.
      var url = "/topics/" + encodeURIComponent(button.dataset.topic) + "/events?from=end&max_rate=20";
      source = new EventSource(url);
      source.onopen = function () { button.dataset.state = "open"; };
      button.setAttribute("aria-pressed", "true");
      button.textContent = "Stop live tail";
      source.addEventListener("record", function (ev) {
        body.insertBefore(recordRow(JSON.parse(ev.data)), body.firstChild);
      });
      source.addEventListener("skipped", function (ev) {
        var s = JSON.parse(ev.data);
        var tr = document.createElement("tr");
        tr.className = "new skipped";
        var td = cell(tr, (s.to - s.from) + " records of partition " + s.partition + " not shown (offsets " + s.from + " to " + (s.to - 1) + "): the tail shows the newest 20 a second", "muted");
        td.colSpan = 6;
        body.insertBefore(tr, body.firstChild);
      });
    });
  }

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  // recordRow builds the row a page would have rendered for rec.
  function recordRow(rec) {
    var tr = document.createElement("tr");
    tr.className = "new";
    tr.dataset.offset = rec.partition + ":" + rec.offset;
    cell(tr, String(rec.partition));
    cell(tr, String(rec.offset));
    cell(tr, rec.timestamp.replace("T", " ").replace("Z", ""));
    cell(tr, rec.key.format === "null" ? "null" : rec.key.data, "v " + rec.key.format);
    var v = cell(tr, "", "v " + rec.value.format);
    var fmt = document.createElement("span");
    fmt.className = "fmt";
    fmt.textContent = rec.value.format + (rec.value.schema_id ? " #" + rec.value.schema_id : "");
    var pre = document.createElement("pre");
    pre.textContent = rec.value.format === "null" ? "null (tombstone)" : rec.value.data;
    v.appendChild(fmt);
    v.appendChild(document.createTextNode(" "));
    v.appendChild(pre);
    if (rec.value.truncated) {
      var a = document.createElement("a");
      a.className = "download";
      a.href = "/topics/" + encodeURIComponent(rec.topic) + "/partitions/" + rec.partition + "/offsets/" + rec.offset + "/value";
      a.textContent = "truncated: download all " + rec.value.size + " bytes";
      v.appendChild(a);
    }
    var h = cell(tr, "");
    (rec.headers || []).forEach(function (hd) {
      var d = document.createElement("div");
      d.className = "h" + (hd.name.indexOf("ce_") === 0 ? " ce" : "");
      var b = document.createElement("b");
      b.textContent = hd.name;
      d.appendChild(b);
      d.appendChild(document.createTextNode(": " + hd.value.data));
      h.appendChild(d);
    });
    return tr;
  }

  // liveLag keeps a group page's lag table current.
  function liveLag(facts) {
    var url = "/groups/" + encodeURIComponent(facts.dataset.group) + "/lag/events";
    var source = new EventSource(url);
    source.addEventListener("lag", function (ev) {
      var g = JSON.parse(ev.data);
      document.getElementById("group-state").textContent = g.state;
      document.getElementById("member-count").textContent = String((g.members || []).length);
      document.getElementById("total-lag").textContent = String(g.total);
      (g.partitions || []).forEach(function (p) {
        var row = document.querySelector('tr[data-tp="' + CSS.escape(p.topic + "/" + p.partition) + '"]');
        if (!row) return;
        row.querySelector(".committed").textContent = p.committed < 0 ? "none" : String(p.committed);
        row.querySelector(".end").textContent = String(p.end);
        row.querySelector(".lag").textContent = String(p.lag);
      });
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  // drawSpark redraws an SVG polyline from points {t, v}, as the server
  // drew it (history.go's spark): time across, value up from 0.
  function drawSpark(svg, pts) {
    var w = Number(svg.dataset.w), h = Number(svg.dataset.h), hi = 0;
    pts.forEach(function (p) { if (p.v > hi) hi = p.v; });
    var t0 = pts.length ? pts[0].t : 0, t1 = pts.length ? pts[pts.length - 1].t : 0;
    var out = pts.map(function (p) {
      var x = t1 > t0 ? (p.t - t0) / (t1 - t0) * w : w / 2;
      var y = hi > 0 ? h - p.v / hi * (h - 2) - 1 : h;
      return x.toFixed(1) + "," + y.toFixed(1);
    });
    svg.querySelector("polyline").setAttribute("points", out.join(" "));
    return hi;
  }

  function setText(id, text) {
    var el = document.getElementById(id);
    if (el) el.textContent = text;
  }

  function last(pts) { return pts.length ? pts[pts.length - 1].v : null; }

  // poll fetches url every ms milliseconds while the page is shown.
  function poll(url, ms, fn) {
    var timer = null;
    function tick() {
      fetch(url, { cache: "no-store" }).then(function (r) {
        return r.ok ? r.json() : null;
      }).then(function (data) {
        if (data) fn(data);
      }).catch(function () { /* the next tick retries */ }).then(function () {
        timer = setTimeout(tick, ms);
      });
    }
    timer = setTimeout(tick, ms);
    window.addEventListener("pagehide", function () { clearTimeout(timer); });
  }

  // liveActivity keeps the overview's sparklines current.
  function liveActivity(section) {
    var ms = Math.max(Number(section.dataset.interval) || 5000, 500);
    poll("/api/history", ms, function (h) {
      var rec = document.getElementById("spark-records");
      if (rec) {
        drawSpark(rec, h.records_per_second || []);
        var v = last(h.records_per_second || []);
        if (v !== null) setText("spark-records-last", v.toFixed(1) + "/s");
      }
      var fs = document.getElementById("spark-fsync");
      if (fs) {
        drawSpark(fs, h.fsync_ms || []);
        var f = last(h.fsync_ms || []);
        if (f !== null) setText("spark-fsync-last", f.toFixed(2) + " ms");
      }
    });
  }

  // liveLagChart keeps a group page's lag history chart current.
  function liveLagChart(svg, group) {
    poll("/api/groups/" + encodeURIComponent(group) + "/lag/history", 2000, function (pts) {
      var hi = drawSpark(svg, pts);
      var v = last(pts);
      if (v !== null) setText("lag-chart-last", String(v));
      setText("lag-chart-max", String(hi));
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var activity = document.getElementById("activity");
    if (activity) liveActivity(activity);
    var chart = document.getElementById("lag-chart");
    var gf = document.getElementById("group-facts");
    if (chart && gf) liveLagChart(chart, gf.dataset.group);
    var button = document.getElementById("live-toggle");
    if (button) liveTail(button);
    var facts = document.getElementById("group-facts");
    if (facts) liveLag(facts);
    if (button && new URLSearchParams(location.search).get("live") === "1") button.click();
  });
})();
