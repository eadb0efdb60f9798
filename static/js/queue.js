/* The moderation queue's keyboard: j / k move, a approves, r rejects, e opens, x ticks, ? helps.
 * Loaded by templates/stories/index.html only. State lives in the DOM (the focused row carries
 * aria-selected="true"), so a boosted page swap needs no re-initialisation. */
(function () {
  "use strict";
  if (window.zavodQueueKeys) return; // htmx re-runs the script after a boosted swap
  window.zavodQueueKeys = true;

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("table.queue tr.queue-row"));
  }

  function focused() {
    return document.querySelector('table.queue tr.queue-row[aria-selected="true"]');
  }

  function focusRow(row) {
    if (!row) return;
    rows().forEach(function (r) {
      r.setAttribute("aria-selected", "false");
      r.classList.remove("is-focused");
    });
    row.setAttribute("aria-selected", "true");
    row.classList.add("is-focused");
    row.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var index = all.indexOf(focused());
    var next = index < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(Math.max(index + step, 0), all.length - 1);
    focusRow(all[next]);
  }

  function csrfHeaders() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}");
    } catch (e) {
      return {};
    }
  }

  function act(action) {
    var row = focused();
    if (!row || row.dataset.busy) return;
    var body = new URLSearchParams();
    if (action === "reject") {
      // A rejection says why (it goes to the story's audit log); cancelling the prompt cancels it.
      var ask = document.querySelector("[data-reject-prompt]");
      var reason = window.prompt(ask ? ask.dataset.rejectPrompt : "Why?");
      if (reason === null) return;
      body.set("reason", reason);
    }
    row.dataset.busy = "1";
    var headers = csrfHeaders();
    headers["HX-Request"] = "true";
    fetch(row.dataset.actionUrl + "/" + action, { method: "POST", headers: headers, credentials: "same-origin", body: body })
      .then(function (response) {
        return response.text().then(function (html) {
          if (response.status !== 200 && response.status !== 409) throw new Error("HTTP " + response.status);
          var holder = document.createElement("tbody");
          holder.innerHTML = html.trim();
          var fresh = holder.querySelector("tr.queue-row");
          if (!fresh) throw new Error("no row in the answer");
          var ticked = row.querySelector('input[type="checkbox"]');
          var box = fresh.querySelector('input[type="checkbox"]');
          if (ticked && box) box.checked = ticked.checked;
          row.replaceWith(fresh);
          focusRow(fresh);
          if (window.htmx) window.htmx.process(fresh);
        });
      })
      .catch(function () {
        delete row.dataset.busy;
        row.classList.add("queue-failed");
      });
  }

  function help() {
    var dialog = document.getElementById("queue-help");
    if (!dialog) return;
    if (dialog.open) dialog.close();
    else dialog.showModal();
  }

  function typing(target) {
    if (!target || !target.tagName) return false;
    if (target.isContentEditable) return true;
    var tag = target.tagName.toLowerCase();
    if (tag === "textarea" || tag === "select") return true;
    if (tag !== "input") return false;
    var type = (target.getAttribute("type") || "text").toLowerCase();
    return ["checkbox", "radio", "button", "submit", "reset"].indexOf(type) < 0;
  }

  document.addEventListener("keydown", function (event) {
    if (!document.querySelector("table.queue") && event.key !== "?") return;
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var dialog = document.getElementById("queue-help");
    if (dialog && dialog.open && event.key !== "?") return; // the dialog has the keyboard
    var row = focused();
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "a": act("approve"); break;
      case "r": act("reject"); break;
      case "e": if (row) window.location.href = row.querySelector("a.queue-open").href; break;
      case "x": if (row) row.querySelector('input[type="checkbox"]').click(); break;
      case "?": help(); break;
      default: return;
    }
    event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target.closest && target.closest("[data-open-help]")) help();
    if (target.closest && target.closest("[data-close-help]")) document.getElementById("queue-help").close();
    var row = target.closest && target.closest("table.queue tr.queue-row");
    if (row && !row.classList.contains("is-focused")) focusRow(row);
  });
})();
