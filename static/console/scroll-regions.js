// A table wider than a phone's screen scrolls inside its own box (tower.css); keyboard users scroll it once it
// can take focus, so every such box that overflows gets tabindex=0 (and loses it again when the page widens).
(function () {
  function mark() {
    document.querySelectorAll("main .table-responsive, main table.table").forEach(function (box) {
      if (box.scrollWidth > box.clientWidth + 1) {
        if (!box.hasAttribute("tabindex")) { box.setAttribute("tabindex", "0"); box.dataset.scrollRegion = "1"; }
      } else if (box.dataset.scrollRegion) {
        box.removeAttribute("tabindex"); delete box.dataset.scrollRegion;
      }
    });
  }
  mark();
  window.addEventListener("resize", mark);
  // Pages that refresh parts of themselves (htmx) bring new tables.
  document.body.addEventListener("htmx:afterSettle", mark);
})();
