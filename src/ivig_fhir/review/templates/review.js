// Client-side filter and search over the items of the page; no network, no libraries.
(function () {
  "use strict";
  var q = document.getElementById("q");
  if (!q) { return; }
  var section = document.getElementById("f-section");
  var status = document.getElementById("f-status");
  var flagged = document.getElementById("f-flagged");
  var shown = document.getElementById("shown");
  var items = Array.prototype.slice.call(document.querySelectorAll(".item[data-search]"));
  function apply() {
    var words = q.value.toLowerCase().split(/\s+/).filter(Boolean);
    var count = 0;
    items.forEach(function (el) {
      var text = el.getAttribute("data-search");
      var ok = words.every(function (w) { return text.indexOf(w) >= 0; }) &&
        (!section.value || el.getAttribute("data-section") === section.value) &&
        (!status.value || el.getAttribute("data-status") === status.value) &&
        (!flagged.checked || el.getAttribute("data-flagged") === "1");
      el.hidden = !ok;
      if (ok) { count += 1; }
    });
    Array.prototype.forEach.call(document.querySelectorAll(".group, section.part"), function (g) {
      g.hidden = !g.querySelector(".item:not([hidden])");
    });
    shown.textContent = count + " of " + items.length + " items shown";
  }
  [q, section, status, flagged].forEach(function (el) {
    el.addEventListener("input", apply);
    el.addEventListener("change", apply);
  });
  // Paper shows every item with its details open, whatever the screen filter was.
  window.addEventListener("beforeprint", function () {
    Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) {
      d.open = true;
    });
  });
  apply();
}());
