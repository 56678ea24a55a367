// Small behaviours on top of server-rendered pages: live SLA countdowns and "add a row".
(function () {
  "use strict";
  function tickCountdowns() {
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var now = Date.now();
      var state = now >= new Date(el.dataset.due).getTime() ? "overdue"
        : now >= new Date(el.dataset.warn).getTime() ? "warning" : "ok";
      el.classList.remove("sla-ok", "sla-warning", "sla-overdue");
      el.classList.add("sla-" + state);
    });
  }

  function addRow(button) {
    var fieldset = button.closest("fieldset[data-rows]");
    var rows = fieldset.querySelectorAll(":scope > .row-fields");
    var next = rows.length;
    var html = fieldset.querySelector(":scope > template").innerHTML.split(fieldset.dataset.placeholder).join(String(next));
    var div = document.createElement("div");
    div.className = "row-fields";
    div.dataset.row = String(next);
    div.innerHTML = html;
    button.before(div);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest(".add-row");
    if (button) { addRow(button); }
  });
  // A refused form: the summary of its errors takes the focus, so a screen reader reads it.
  function focusErrors() {
    var summary = document.querySelector(".error-summary");
    if (summary) { summary.focus(); }
  }

  document.addEventListener("DOMContentLoaded", focusErrors);
  document.addEventListener("htmx:afterSettle", focusErrors);
  document.addEventListener("DOMContentLoaded", tickCountdowns);
  document.addEventListener("htmx:afterSettle", tickCountdowns);
  setInterval(tickCountdowns, 30000);
})();
