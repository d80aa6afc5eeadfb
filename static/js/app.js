// InstaForge's page behaviour, from this file alone: the Content-Security-Policy refuses inline scripts
// and inline event handlers, so templates declare behaviour with data attributes instead.
(function () {
  "use strict";

  // <select data-autosubmit>: choosing an option submits its form (filters, the workspace switch).
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit") && target.form) {
      target.form.submit();
    }
  });

  // data-confirm="Question?" on a form or a button: nothing is sent unless the person confirms.
  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("button[data-confirm]") : null;
    if (button && !window.confirm(button.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.hasAttribute("data-confirm") && !window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });

  // A table wider than the screen scrolls inside its frame (.table-scroll, or its card on a phone): with nothing
  // focusable in it, the frame itself takes the focus so that the arrow keys scroll it (WCAG 2.1.1), named after
  // its card's heading.
  function scrollFramesFocusable() {
    document.querySelectorAll("main .table-scroll, main .card").forEach(function (frame) {
      var scrolls = frame.scrollWidth > frame.clientWidth + 1 && getComputedStyle(frame).overflowX !== "visible";
      var focusable = frame.querySelector("a[href], button, input, select, textarea, summary, [tabindex]");
      if (scrolls && !focusable && !frame.hasAttribute("tabindex")) {
        var heading = frame.closest(".card") && frame.closest(".card").querySelector("h2, h3");
        frame.setAttribute("tabindex", "0");
        frame.setAttribute("role", "region");
        frame.setAttribute("aria-label", (heading ? heading.textContent.trim() + ": " : "") + "table, scrolls sideways");
        frame.setAttribute("data-scroll-frame", "");
      } else if (!scrolls && frame.hasAttribute("data-scroll-frame")) {
        ["tabindex", "role", "aria-label", "data-scroll-frame"].forEach(function (name) { frame.removeAttribute(name); });
      }
    });
  }
  document.addEventListener("DOMContentLoaded", scrollFramesFocusable);
  window.addEventListener("resize", scrollFramesFocusable);

  // <details class="dropdown"> (the person's menu): closes on a click elsewhere and on Escape, as menus do.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.dropdown[open]").forEach(function (menu) {
      if (!(event.target instanceof Node) || !menu.contains(event.target)) menu.open = false;
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.dropdown[open]").forEach(function (menu) {
      menu.open = false;
      var summary = menu.querySelector("summary");
      if (summary && menu.contains(document.activeElement)) summary.focus();
    });
  });

  // <meta name="refresh-seconds" content="N">: the page reloads itself every N seconds (new comments and messages, a
  // post's state). Unlike <meta http-equiv="refresh">, a button pauses it (WCAG 2.2.1: a time limit the person can
  // turn off; the pause lasts for the tab's session), and it never reloads over something typed into a field.
  document.addEventListener("DOMContentLoaded", function () {
    var meta = document.querySelector('meta[name="refresh-seconds"]');
    var seconds = meta ? parseInt(meta.getAttribute("content"), 10) : 0;
    if (!(seconds > 0)) return;
    var key = "instaforge-refresh-paused:" + window.location.pathname;
    var paused = window.sessionStorage.getItem(key) === "1";
    var typed = false;
    document.addEventListener("input", function () { typed = true; });
    var button = document.createElement("button");
    button.type = "button";
    button.className = "secondary small refresh-toggle";
    button.setAttribute("data-testid", "refresh-toggle");
    function label() {
      button.textContent = paused ? "Refresh again every " + seconds + " s" : "Stop refreshing";
    }
    label();
    button.addEventListener("click", function () {
      paused = !paused;
      if (paused) window.sessionStorage.setItem(key, "1");
      else window.sessionStorage.removeItem(key);
      label();
    });
    var head = document.querySelector("main .page-head") || document.querySelector("main");
    if (head) head.appendChild(button);
    function tick() {
      if (paused || typed || document.hidden) window.setTimeout(tick, seconds * 1000);
      else window.location.reload();
    }
    window.setTimeout(tick, seconds * 1000);
  });

  // The flow editor: each step shows only the fields its type uses (all stay visible without JavaScript).
  function stepFieldsSync(step) {
    var select = step.querySelector('select[name$="-type"]');
    if (!select) return;
    step.querySelectorAll("[data-for]").forEach(function (field) {
      field.hidden = field.getAttribute("data-for").split(" ").indexOf(select.value) === -1;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("div.step").forEach(stepFieldsSync);
  });
  document.addEventListener("change", function (event) {
    var step = event.target instanceof Element ? event.target.closest("div.step") : null;
    if (step && event.target.matches('select[name$="-type"]')) stepFieldsSync(step);
  });
})();
