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

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("live-toggle");
    if (button) liveTail(button);
    var facts = document.getElementById("group-facts");
    if (facts) liveLag(facts);
    if (button && new URLSearchParams(location.search).get("live") === "1") button.click();
  });
})();
