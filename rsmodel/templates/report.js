(function () {
  "use strict";
  function num(cell) { var v = cell.getAttribute("data-v"); return v === null || v === "" ? NaN : parseFloat(v); }
  function setup(table) {
    var id = table.id, tbody = table.tBodies[0];
    var rows = Array.prototype.slice.call(tbody.rows);
    var pageSize = parseInt(table.getAttribute("data-page") || "25", 10), page = 0, shown = rows;
    var ctl = document.querySelector('.dt-controls[data-for="' + id + '"]');
    var search = ctl && ctl.querySelector("input.dt-search");
    var selects = ctl ? Array.prototype.slice.call(ctl.querySelectorAll("select.dt-sel")) : [];
    var info = ctl && ctl.querySelector(".dt-info");
    var prev = ctl && ctl.querySelector("button.dt-prev"), next = ctl && ctl.querySelector("button.dt-next");
    var text = rows.map(function (r) { return r.textContent.toLowerCase(); });
    function render() {
      var pages = Math.max(1, Math.ceil(shown.length / pageSize));
      page = Math.min(page, pages - 1);
      var lo = page * pageSize, hi = lo + pageSize, visible = new Set(shown.slice(lo, hi));
      rows.forEach(function (r) { r.hidden = !visible.has(r); });
      if (info) {
        info.textContent = shown.length ? (lo + 1) + "–" + Math.min(hi, shown.length) + " of " + shown.length +
          (shown.length < rows.length ? " (filtered from " + rows.length + ")" : "") : "no matching rows";
      }
      if (prev) { prev.disabled = page === 0; next.disabled = page >= pages - 1; }
    }
    function apply() {
      var q = search ? search.value.trim().toLowerCase() : "";
      shown = rows.filter(function (r, i) {
        if (q && text[i].indexOf(q) < 0) { return false; }
        return selects.every(function (s) { return !s.value || r.cells[+s.getAttribute("data-col")].textContent === s.value; });
      });
      page = 0; render();
    }
    if (search) { search.addEventListener("input", apply); }
    selects.forEach(function (s) { s.addEventListener("change", apply); });
    if (prev) {
      prev.addEventListener("click", function () { page -= 1; render(); });
      next.addEventListener("click", function () { page += 1; render(); });
    }
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending", numeric = th.classList.contains("num");
        Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var keyed = rows.map(function (r, i) {
          var c = r.cells[col];
          return { r: r, t: text[i], k: numeric ? num(c) : c.textContent.toLowerCase(), i: i };
        });
        keyed.sort(function (a, b) {
          var x = a.k, y = b.k, d;
          if (numeric) {
            if (isNaN(x) && isNaN(y)) { d = 0; } else if (isNaN(x)) { return 1; } else if (isNaN(y)) { return -1; } else { d = x - y; }
          } else { d = x < y ? -1 : x > y ? 1 : 0; }
          return (asc ? d : -d) || a.i - b.i;
        });
        var frag = document.createDocumentFragment();
        keyed.forEach(function (e) { frag.appendChild(e.r); });
        tbody.appendChild(frag);
        rows = keyed.map(function (e) { return e.r; });
        text = keyed.map(function (e) { return e.t; });
        apply();
      });
    });
    window.addEventListener("beforeprint", function () { var s = pageSize; pageSize = shown.length || 1; render(); pageSize = s; });
    window.addEventListener("afterprint", render);
    render();
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.dt"), setup);
})();
