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
  // It asks for what the filters say now, and gives way to a filter request made meanwhile,
  // whose answer is the fresher one.
  var filterRequests = 0;
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.target.matches && event.target.matches("form.filters")) { filterRequests += 1; }
  });

  function tickedIn(list) {
    return list ? Array.prototype.map.call(
      list.querySelectorAll("input[name=task_ids]:checked"), function (box) { return box.value; }
    ) : [];
  }

  function tick(list, values) {
    values.forEach(function (value) {
      var same = list && list.querySelector("input[name=task_ids][value='" + value + "']");
      if (same) { same.checked = true; }
    });
  }

  // A filter answer that lands after boxes were ticked (typing, then ticking within the search's
  // delay) keeps the ticks on the rows it still lists. Only the list's own swaps: a whole page
  // after a bulk action starts unticked.
  var tickedBeforeSwap = [];
  document.addEventListener("htmx:beforeSwap", function (event) {
    var list = document.getElementById("task-list");
    tickedBeforeSwap = event.detail.target === list ? tickedIn(list) : [];
  });
  document.addEventListener("htmx:afterSwap", function () {
    tick(document.getElementById("task-list"), tickedBeforeSwap);
    tickedBeforeSwap = [];
  });

  // Someone ticking tasks or filling the bulk form is not pulled from under: the list says it
  // changed and waits for a tap.
  function busyWith(list) {
    return list.querySelector("input[name=task_ids]:checked") !== null
      || (list.contains(document.activeElement) && document.activeElement !== list);
  }

  function refreshTaskList(asked_for) {
    var filters = document.querySelector("form.filters");
    var list = document.getElementById("task-list");
    var stale = document.getElementById("list-stale");
    if (!list || !filters) { return; }
    if (filters.classList.contains("htmx-request")) { return; }
    if (asked_for !== true && busyWith(list)) {
      if (stale) { stale.hidden = false; }
      return;
    }
    if (stale) { stale.hidden = true; }
    var asked = filterRequests;
    var query = new URLSearchParams(window.location.search);
    new FormData(filters).forEach(function (value, name) { query.set(name, value); });
    fetch("/inbox?" + query.toString(), {
      headers: { "HX-Request": "true", "HX-Target": "task-list" }, credentials: "same-origin"
    }).then(function (response) {
      return response.ok ? response.text() : null;
    }).then(function (html) {
      var current = document.getElementById("task-list");
      if (html === null || !current || asked !== filterRequests) { return; }
      var holder = document.createElement("div");
      holder.innerHTML = html;
      var fresh = holder.querySelector("#task-list");
      if (!fresh) { return; }
      tick(fresh, tickedIn(current));
      current.replaceWith(fresh);
      if (window.htmx) { htmx.process(fresh); }
      tickCountdowns();
    });
  }

  function showUnread(unread) {
    document.querySelectorAll("[data-unread-count]").forEach(function (el) {
      el.textContent = String(unread);
      el.hidden = unread === 0;
    });
  }

  // The notifications page takes in a notice newer than the ones it shows, in place.
  function refreshNotices(latest) {
    var list = document.getElementById("notice-list");
    if (!list || String(latest) === list.dataset.latest) { return; }
    fetch("/notices", { credentials: "same-origin" }).then(function (response) {
      return response.ok ? response.text() : null;
    }).then(function (html) {
      var current = document.getElementById("notice-list");
      if (html === null || !current) { return; }
      var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("notice-list");
      if (!fresh) { return; }
      current.replaceWith(fresh);
      if (window.htmx) { htmx.process(fresh); }
    });
  }

  function startLive() {
    var url = document.body.dataset.live;
    if (!url || !window.EventSource) { return; }
    var source = new EventSource(url);
    source.addEventListener("notices", function (event) {
      var news = JSON.parse(event.data);
      showUnread(news.unread);
      refreshNotices(news.latest);
    });
    source.addEventListener("tasks", function () { refreshTaskList(false); });
  }

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-refresh-list]")) { refreshTaskList(true); }
  });

  document.addEventListener("DOMContentLoaded", startLive);
  document.addEventListener("DOMContentLoaded", focusErrors);
  document.addEventListener("htmx:afterSettle", focusErrors);
  document.addEventListener("DOMContentLoaded", tickCountdowns);
  document.addEventListener("htmx:afterSettle", tickCountdowns);
  setInterval(tickCountdowns, 30000);
})();
