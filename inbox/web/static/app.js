// Small behaviours on top of server-rendered pages: live SLA countdowns, "add a row", and the
// chosen file's name beside the page's own file button.
(function () {
  "use strict";
  // As the server writes it (inbox/web/rendering.py): to the minute, in the two largest units.
  function durationText(seconds, lang) {
    var minutes = Math.max(1, Math.floor(Math.abs(seconds) / 60));
    var days = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60);
    var parts = days ? [[days, "day"], [hours, "hour"]]
      : hours ? [[hours, "hour"], [minutes % 60, "minute"]] : [[minutes, "minute"]];
    return parts.filter(function (part, i) { return i === 0 || part[0] > 0; })
      .map(function (part) {
        return new Intl.NumberFormat(lang, { style: "unit", unit: part[1], unitDisplay: "long" })
          .format(part[0]);
      })
      .join(lang.indexOf("zh") === 0 ? "" : " ");
  }

  function tickCountdowns() {
    var lang = document.documentElement.lang || "zh-CN";
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var now = Date.now(), due = new Date(el.dataset.due).getTime();
      var state = now >= due ? "overdue"
        : now >= new Date(el.dataset.warn).getTime() ? "warning" : "ok";
      el.classList.remove("sla-ok", "sla-warning", "sla-overdue");
      el.classList.add("sla-" + state);
      if (el.dataset.labelLeft) {
        var label = state === "overdue" ? el.dataset.labelOverdue : el.dataset.labelLeft;
        el.textContent = label + " " + durationText((due - now) / 1000, lang);
      }
    });
  }

  document.addEventListener("change", function (event) {
    var input = event.target.closest("input[data-file-pick]");
    if (!input) { return; }
    var shown = input.parentElement.querySelector(".file-chosen");
    var names = Array.prototype.map.call(input.files, function (file) { return file.name; });
    shown.textContent = names.length ? names.join(", ") : shown.dataset.none;
  });

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

  // Live pages: the server pushes the bell's unread count, and a nudge when my open tasks change
  // (a new one, one reassigned to me or away); the task list then reloads in place, ticks kept.
  function refreshTaskList() {
    var list = document.getElementById("task-list");
    if (!list || !window.htmx) { return; }
    var ticked = Array.prototype.map.call(
      list.querySelectorAll("input[name=task_ids]:checked"), function (box) { return box.value; });
    htmx.ajax("GET", window.location.pathname + window.location.search,
      { target: "#task-list", select: "#task-list", swap: "outerHTML" }).then(function () {
      ticked.forEach(function (value) {
        var box = document.querySelector("#task-list input[name=task_ids][value='" + value + "']");
        if (box) { box.checked = true; }
      });
    });
  }

  function showUnread(unread) {
    document.querySelectorAll("[data-unread-count]").forEach(function (el) {
      el.textContent = String(unread);
      el.hidden = unread === 0;
    });
  }

  function startLive() {
    var url = document.body.dataset.live;
    if (!url || !window.EventSource) { return; }
    var source = new EventSource(url);
    source.addEventListener("notices", function (event) { showUnread(JSON.parse(event.data).unread); });
    source.addEventListener("tasks", refreshTaskList);
  }

  document.addEventListener("DOMContentLoaded", startLive);
  document.addEventListener("DOMContentLoaded", focusErrors);
  document.addEventListener("htmx:afterSettle", focusErrors);
  document.addEventListener("DOMContentLoaded", tickCountdowns);
  document.addEventListener("htmx:afterSettle", tickCountdowns);
  setInterval(tickCountdowns, 30000);
})();
