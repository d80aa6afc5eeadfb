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
