"""The report page's inline CSS and JS: nothing is fetched when the page is read."""

CSS = """
:root{--bg:#f6f7f9;--card:#fff;--ink:#1d2330;--muted:#6a7385;--line:#e2e6ec;--accent:#3b6fd8;
--pass:#1f9d55;--fail:#d64545;--warn:#d9822b;--purple:#8a4fd6;--code:#f3f5f8;
--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace}
@media (prefers-color-scheme:dark){:root{--bg:#14171c;--card:#1c2027;--ink:#e4e8ef;--muted:#939cad;
--line:#2c323c;--accent:#6d9bf0;--pass:#3cc47a;--fail:#f06a6a;--warn:#f0a050;--purple:#b58cf0;--code:#171b21}}
*{box-sizing:border-box}
html{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
body{margin:0;background:var(--bg);color:var(--ink)}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
header{background:var(--card);border-bottom:1px solid var(--line);padding:14px 28px 12px}
header .bar{display:flex;align-items:baseline;gap:24px;max-width:1184px;margin:0 auto}
.brand{font-weight:700;font-size:18px;color:var(--ink)}.brand span{font-weight:400;color:var(--muted)}
header nav a{margin-right:16px;color:var(--muted)}
dl.facts{display:flex;flex-wrap:wrap;gap:6px 22px;margin:10px auto 0;max-width:1184px}
dl.facts div{min-width:0}dl.facts dt{font-size:11px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}
dl.facts dd{margin:0;font-weight:500;overflow-wrap:anywhere}
main{max-width:1240px;margin:0 auto;padding:20px 28px 80px}
h1{font-size:24px;margin:8px 0 4px}h2{font-size:18px;margin:34px 0 12px}
.muted{color:var(--muted)}.small{font-size:12.5px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(190px,1fr));gap:14px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px}
.card .label{font-size:12px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}
.card .value{font-size:30px;font-weight:650;font-variant-numeric:tabular-nums;margin:2px 0}
.card .note{font-size:12.5px;color:var(--muted)}
.statuses{margin-top:12px;display:flex;flex-wrap:wrap;gap:10px}.tally b{margin-left:5px;font-variant-numeric:tabular-nums}
.pill{display:inline-block;padding:1px 9px;border-radius:999px;font-size:12px;font-weight:600;white-space:nowrap;
color:#fff;background:var(--muted)}
.s-passed{background:var(--pass)}.s-wrong_output{background:var(--warn)}.s-rejected{background:var(--purple)}
.s-compile_error,.s-runtime_error{background:var(--fail)}.s-crashed{background:#9b2c2c}
.s-timeout{background:#b7791f}.s-error{background:#5a6270}
.s-format_error{background:repeating-linear-gradient(45deg,var(--fail) 0 3px,transparent 3px 6px);border:1px solid var(--fail)}
.plots{display:grid;grid-template-columns:1fr 1fr;gap:14px}
figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px}
figure.wide{grid-column:1/-1}figcaption{font-weight:600;margin-bottom:6px}
svg{width:100%;height:auto;display:block}
svg .grid{stroke:var(--line);stroke-width:1}svg .axis{stroke:var(--muted);stroke-width:1.2}
svg .grid.one{stroke:var(--muted);stroke-dasharray:4 4}svg .name{font-size:11.5px;fill:var(--ink)}
svg .tick{fill:var(--muted);font-size:11px}svg .label{fill:var(--muted);font-size:12px}
svg a rect:hover{opacity:.7}
.legend{display:flex;gap:16px;font-size:12.5px;color:var(--muted);margin-top:2px}
.legend i{display:inline-block;width:12px;height:3px;border-radius:2px;margin-right:6px;vertical-align:middle}
table{border-collapse:separate;border-spacing:0;background:var(--card);border:1px solid var(--line);border-radius:10px}
th,td{padding:6px 12px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
tr:last-child td,tr:last-child th{border-bottom:0}
thead th{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted);background:var(--card);
position:sticky;top:0;white-space:nowrap}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.metrics{min-width:60%}table.metrics th{font-weight:500;white-space:nowrap}table.metrics td.note{color:var(--muted);font-size:13px}
table.tasks{width:100%}table.tasks tbody tr:hover{background:var(--code)}
table.sortable th{cursor:pointer;user-select:none}table.sortable th:hover{color:var(--ink)}
th.asc::after{content:" ▲"}th.desc::after{content:" ▼"}
.faster{color:var(--pass);font-weight:600}.slower{color:var(--fail)}
.tools{display:flex;align-items:center;gap:12px;margin-bottom:10px}
#filter{font:inherit;padding:6px 10px;border:1px solid var(--line);border-radius:8px;width:320px;background:var(--card);color:var(--ink)}
.pager{display:flex;gap:18px;font-size:14px}
.task-facts{margin:8px 0 14px}
.callout{background:var(--card);border:1px solid var(--line);border-left:4px solid var(--warn);border-radius:6px;padding:8px 12px}
.callout.fail{border-left-color:var(--fail)}
.timeline{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px 14px;margin:12px 0}
.tl-row{display:flex;align-items:center;gap:4px;margin:3px 0}.tl-label{width:44px;font-size:12px;color:var(--muted)}
.sq{width:18px;height:18px;border-radius:4px;display:inline-block}.sq:hover{outline:2px solid var(--ink)}
.tl-row .small{margin-left:10px}
.lineage>h2{position:sticky;top:0;background:var(--bg);padding:6px 0;z-index:2;border-bottom:1px solid var(--line)}
.round{display:grid;grid-template-columns:76px 1fr;gap:12px;margin:14px 0}
.round-label{font-size:12px;font-weight:600;color:var(--muted);text-transform:uppercase;letter-spacing:.05em;padding-top:10px}
.events{display:flex;flex-direction:column;gap:10px;min-width:0}
.event{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px 14px;min-width:0}
.event.trap{border-style:dashed}
.ev-head{display:flex;align-items:center;gap:10px;margin-bottom:6px}
.ev-head .pill{margin-left:auto}
.role{font-size:12px;font-weight:700;text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}
.r-generate{color:var(--accent)}.r-reflect{color:var(--warn)}.r-optimize{color:var(--pass)}.r-evaluate{color:var(--ink)}
.r-error{color:var(--fail)}.r-trap{color:var(--purple)}
.meta{font-size:12.5px;color:var(--muted);font-variant-numeric:tabular-nums}
details{margin:4px 0}summary{cursor:pointer;font-weight:500;font-size:13.5px}
summary .muted{font-weight:400;margin-left:6px}
.message{border-left:3px solid var(--line);padding-left:10px;margin:8px 0}
.msg-role{font-size:11px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}
.shared{font-size:13px;margin:4px 0}
button{font:inherit;font-size:12px;border:1px solid var(--line);background:var(--card);color:var(--accent);
border-radius:6px;padding:1px 8px;cursor:pointer}button:hover{border-color:var(--accent)}
.prose{white-space:pre-wrap;overflow-wrap:anywhere;margin:6px 0}
pre{font:12.5px/1.45 var(--mono);background:var(--code);border:1px solid var(--line);border-radius:8px;
padding:8px 10px;margin:6px 0;overflow-x:auto;white-space:pre}
pre.text{white-space:pre-wrap;overflow-wrap:anywhere}
.diff span{display:block}.d-add{background:rgba(31,157,85,.14)}.d-del{background:rgba(214,69,69,.14)}
.d-hunk{color:var(--accent)}.d-head{color:var(--muted)}
.clip{max-height:26em;overflow:hidden;position:relative}
.clip::after{content:"";position:absolute;left:0;right:0;bottom:0;height:4em;background:linear-gradient(transparent,var(--card))}
.clip.open{max-height:none}.clip.open::after{display:none}
.code-title{font-size:13px;font-weight:500;display:flex;gap:10px;align-items:center}
.result{border-left:4px solid var(--muted);padding:2px 0 2px 10px;margin-top:8px}
.s-border-passed{border-color:var(--pass)}.s-border-wrong_output{border-color:var(--warn)}
.s-border-rejected{border-color:var(--purple)}.s-border-timeout{border-color:#b7791f}
.s-border-compile_error,.s-border-runtime_error,.s-border-crashed{border-color:var(--fail)}
.facts-line{font-size:13px;font-variant-numeric:tabular-nums}
.guard{color:var(--purple);font-weight:500;margin:4px 0}
.failing .sub{font-size:12px;font-weight:600;color:var(--fail);margin-top:8px}.failing dl.facts{margin:4px 0}
table.timings{margin:8px 0;font-size:13px}table.timings th,table.timings td{padding:4px 10px}
details.best{margin:10px 0 4px}
@media (max-width:800px){.plots{grid-template-columns:1fr}.round{grid-template-columns:1fr}main{padding:12px}}
"""

JS = r"""
(function () {
  "use strict";
  var pages = document.querySelectorAll("main > section.page");
  var title = document.title;

  function inflate(page) {
    var blob = page.querySelector("script.blob");
    if (!blob) return Promise.resolve();
    var holder = page.querySelector(".trajectory");
    if (!window.DecompressionStream) {
      holder.textContent = "This browser cannot unpack the trajectory (it lacks DecompressionStream).";
      return Promise.resolve();
    }
    var bytes = Uint8Array.from(atob(blob.textContent.trim()), function (c) { return c.charCodeAt(0); });
    blob.remove();
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text().then(function (html) { holder.innerHTML = html; });
  }

  function route() {
    var hash;
    try { hash = decodeURIComponent(location.hash.slice(1)) || "summary"; } catch (e) { hash = "summary"; }
    var target = document.getElementById(hash);
    var name = hash.split("/")[0];
    var page = document.getElementById(name);
    if (!page || !page.classList.contains("page")) page = target ? target.closest("section.page") : null;
    if (!page) page = document.getElementById("summary");
    pages.forEach(function (p) { p.hidden = p !== page; });
    document.title = page.id === "summary" ? title : page.querySelector("h1").textContent + " · " + title;
    inflate(page).then(function () {
      var element = document.getElementById(hash);
      if (element && element !== page) element.scrollIntoView({block: "start"});
      else window.scrollTo(0, 0);
      if (element && element.classList.contains("round")) {
        element.querySelectorAll(".events details").forEach(function (d) { d.open = true; });
      }
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    if (!button) return;
    if (button.classList.contains("more")) {
      var clip = button.previousElementSibling;
      var open = clip.classList.toggle("open");
      button.dataset.label = button.dataset.label || button.textContent;
      button.textContent = open ? "show less" : button.dataset.label;
    } else if (button.classList.contains("reveal")) {
      var holder = button.parentNode;
      button.dataset.src.split(" ").forEach(function (id) {
        var copy = document.getElementById(id).cloneNode(true);
        copy.removeAttribute("id");
        holder.before(copy);
      });
      holder.remove();
    } else if (button.classList.contains("whole")) {
      var whole = button.closest(".candidate").querySelector(".whole-file");
      whole.hidden = !whole.hidden;
      button.textContent = whole.hidden ? "show whole file" : "hide whole file";
    }
  });

  var table = document.querySelector("table.sortable");
  if (table) {
    var body = table.tBodies[0];
    table.querySelectorAll("th").forEach(function (th, column) {
      function sort() {
        var ascending = !th.classList.contains("asc");
        table.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
        th.classList.add(ascending ? "asc" : "desc");
        var numeric = th.dataset.kind === "num";
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[column].dataset.v, y = b.cells[column].dataset.v;
          if (numeric) {
            if (x === "" || y === "") return (x === "") - (y === "");  // unmeasured last
            return ascending ? x - y : y - x;
          }
          return ascending ? x.localeCompare(y) : y.localeCompare(x);
        });
        rows.forEach(function (row) { body.appendChild(row); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sort(); });
    });
    var filter = document.getElementById("filter"), shown = document.getElementById("shown");
    filter.addEventListener("input", function () {
      var words = filter.value.toLowerCase().split(/\s+/).filter(Boolean), count = 0;
      Array.prototype.forEach.call(body.rows, function (row) {
        var text = row.textContent.toLowerCase();
        var keep = words.every(function (w) { return text.indexOf(w) >= 0; });
        row.hidden = !keep;
        count += keep;
      });
      shown.textContent = words.length ? count + " of " + body.rows.length + " tasks" : "";
    });
  }

  window.addEventListener("hashchange", route);
  route();
})();
"""
