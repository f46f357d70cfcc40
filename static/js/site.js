// The small behaviours the pages share; no inline scripts (the CSP allows only files from here).
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  function menuToggle(button) {
    var open = button.getAttribute("aria-expanded") === "true";
    button.setAttribute("aria-expanded", open ? "false" : "true");
  }

  function copy(button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      var status = document.getElementById(button.getAttribute("aria-describedby"));
      if (status) status.textContent = "Copied.";
    });
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest("button");
    if (!target) return;
    if (target.classList.contains("menu-toggle")) menuToggle(target);
    if (target.hasAttribute("data-copy")) copy(target);
    if (target.hasAttribute("data-print")) window.print();
  });

  // After a page answers a form with an error or a preview, focus goes to what it says, not to
  // the top of the page.
  document.addEventListener("DOMContentLoaded", function () {
    var first = document.querySelector("[data-focus]");
    if (first) first.focus();
    markScrollingTables();
  });

  // A table wider than the screen scrolls in its box: say so, and let the keyboard scroll it.
  function markScrollingTables() {
    document.querySelectorAll(".table-scroll").forEach(function (box) {
      var scrolls = box.scrollWidth > box.clientWidth + 1;
      box.classList.toggle("scrolls", scrolls);
      if (scrolls && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "region");
        box.setAttribute("aria-label", "Table, scrolls sideways");
      }
    });
  }
  window.addEventListener("resize", markScrollingTables);
  document.addEventListener("htmx:afterSwap", markScrollingTables);
})();
