/* Live network previews (templates/stories/_partials/previews.html).
 *
 * The server decides every rule (app/stories/previews.py) and writes it into the page as data-
 * attributes: counters say which form field they measure, how and against what limit; anything
 * that depends on the text says under which condition it shows (data-when="telegram-caption:over").
 * While an editor types in the edit form, this script re-measures the text the way the server does
 * and re-evaluates the conditions, so previews, counters and warnings follow without a round trip.
 *
 * On a page without the edit form (the guests' share page) it only opens "… more" and follows the
 * carousel. Listeners are delegated on the document, so a page swapped in by htmx needs nothing. */
(function () {
  "use strict";

  // "#word" not preceded by a letter, digit, "_" or "#": Python's (?<![\w#])#(?=[^\W_]).
  var HASHTAG = /(?<![\p{L}\p{N}_#])#(?=[\p{L}\p{N}])/gu;

  // The text as it would be sent: a browser's line ends counted once, outer spaces dropped.
  function postText(raw) {
    return (raw || "").replace(/\r\n?/g, "\n").trim();
  }

  // What Instagram's feed shows before "… more": the first line, at most `limit` characters, cut at a word.
  function fold(text, limit) {
    var newline = text.indexOf("\n");
    var firstLine = newline < 0 ? text : text.slice(0, newline);
    var chars = Array.from(firstLine);
    if (newline < 0 && chars.length <= limit) return text;
    var shown = chars.slice(0, limit).join("");
    if (chars.length > limit && chars[limit] !== " " && shown.indexOf(" ") >= 0) {
      shown = shown.slice(0, shown.lastIndexOf(" ")); // not in the middle of a word
    }
    return shown.replace(/\s+$/, "");
  }

  function measure(kind, text, element) {
    switch (kind) {
      case "utf16": return text.length; // a JavaScript string is UTF-16: an emoji counts 2, as Telegram does
      case "chars": return Array.from(text).length;
      case "bytes": return new TextEncoder().encode(text).length;
      case "hashtags": return (text.match(HASHTAG) || []).length;
      case "angles": return (text.match(/[<>]/g) || []).length;
      case "folded": return Array.from(text).length - Array.from(fold(text, Number(element.dataset.foldAt))).length;
      default: return 0;
    }
  }

  function holds(when, states) {
    return when.split(/\s+/).filter(Boolean).every(function (condition) {
      var parts = condition.split(":");
      var counter = states[parts[0]];
      if (!counter) return true; // a counter this preview does not have: nothing to say
      switch (parts[1]) {
        case "over": return counter.used > counter.limit;
        case "within": return counter.used <= counter.limit;
        case "empty": return counter.used === 0;
        case "filled": return counter.used > 0;
        default: return true;
      }
    });
  }

  function each(root, selector, fn) {
    Array.prototype.forEach.call(root.querySelectorAll(selector), fn);
  }

  function editForm(root) {
    var selector = root.dataset.previewsForm;
    return selector ? document.querySelector(selector) : null;
  }

  function showText(element, text) {
    if (element.dataset.foldAt) {
      element.dataset.full = text;
      var unfolded = element.closest("[data-unfolded]");
      element.textContent = unfolded ? text : fold(text, Number(element.dataset.foldAt));
    } else {
      element.textContent = text;
    }
  }

  function refresh(root, form) {
    var values = {};
    function value(field) {
      if (!(field in values)) {
        var input = form.elements.namedItem(field);
        values[field] = postText(input && "value" in input ? input.value : "");
      }
      return values[field];
    }

    each(root, "article[data-network]", function (article) {
      var states = {};
      each(article, "[data-counter]", function (counter) {
        var used = measure(counter.dataset.measure, value(counter.dataset.field), counter);
        var limit = Number(counter.dataset.limit);
        states[counter.dataset.counter] = { used: used, limit: limit };
        var output = counter.querySelector("output");
        if (output) output.textContent = String(used);
        counter.classList.toggle("is-over", used > limit);
      });
      each(article, "[data-when]", function (element) {
        element.hidden = !holds(element.dataset.when, states);
      });
      each(article, "[data-preview-text]", function (element) {
        showText(element, value(element.dataset.previewText));
      });
      var problem = article.querySelector("[data-problem]:not([hidden])") !== null;
      each(article, "[data-status]", function (badge) {
        badge.hidden = (badge.dataset.status === "problem") !== problem;
      });
    });
    mirrorCounters(root, form);
  }

  // The counters also sit under the fields being typed in: the previews may be scrolled out of view.
  function mirrorCounters(root, form) {
    var byField = {};
    each(root, "[data-counter]", function (counter) {
      if (counter.hidden && !counter.dataset.when) return; // a silent check, not a number to show
      if (counter.hidden) return; // not relevant now (the separate message while the caption fits)
      var field = counter.dataset.field;
      (byField[field] = byField[field] || []).push(counter);
    });
    Object.keys(byField).forEach(function (field) {
      var input = form.elements.namedItem(field);
      if (!input || !input.parentNode) return;
      var line = form.querySelector('[data-counts-for="' + field + '"]');
      if (!line) {
        line = document.createElement("small");
        line.className = "np-field-counts";
        line.dataset.countsFor = field;
        line.setAttribute("aria-live", "polite");
        input.insertAdjacentElement("afterend", line);
      }
      line.textContent = "";
      byField[field].forEach(function (counter, index) {
        if (index) line.appendChild(document.createTextNode(" · "));
        var article = counter.closest("article[data-network]");
        var part = document.createElement("a");
        part.href = "#" + article.id;
        part.className = counter.classList.contains("is-over")
          ? "is-over" + (counter.classList.contains("np-handled") ? " np-handled" : "")
          : "";
        part.textContent = article.dataset.networkName + " " + counter.dataset.label.toLowerCase() + " " +
          counter.querySelector("output").textContent + " / " + counter.dataset.limit +
          (counter.dataset.unit ? " " + counter.dataset.unit : "");
        line.appendChild(part);
      });
    });
  }

  function roots() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-previews][data-previews-form]"));
  }

  var pending = null;
  function refreshAll(form) {
    roots().forEach(function (root) {
      var own = editForm(root);
      if (own && (!form || own === form)) refresh(root, own);
    });
  }

  // Runs on every load of this script (a page swapped in by htmx brings it again).
  refreshAll(null);

  if (window.zavodPreviews) return;
  window.zavodPreviews = true;

  document.addEventListener("input", function (event) {
    var form = event.target && event.target.form;
    if (!form) return;
    if (pending) cancelAnimationFrame(pending);
    pending = requestAnimationFrame(function () {
      pending = null;
      refreshAll(form);
    });
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-unfold]");
    if (!button) return;
    var caption = button.parentNode;
    caption.dataset.unfolded = "1";
    var text = caption.querySelector("[data-fold-at]");
    if (text) text.textContent = text.dataset.full || text.textContent;
    button.remove(); // Instagram's "more" opens once; it has no "less"
  });

  // The carousel's "2/3" and dots follow a sideways scroll. Scroll does not bubble: listen in capture.
  document.addEventListener("scroll", function (event) {
    var strip = event.target;
    if (!strip.dataset || strip.dataset.carousel === undefined) return;
    var index = Math.round(strip.scrollLeft / Math.max(strip.clientWidth, 1));
    var total = strip.children.length;
    var screen = strip.closest(".np-screen");
    var label = screen.querySelector("[data-carousel-index]");
    if (label) label.textContent = index + 1 + "/" + total;
    each(screen, ".np-ig-dots i", function (dot, n) {
      dot.classList.toggle("is-current", n === index);
    });
  }, true);

  // The Short plays and pauses on a tap, as on YouTube (it has no control bar to sit under the title).
  document.addEventListener("click", function (event) {
    var frame = event.target.closest && event.target.closest("[data-short]");
    var video = frame && frame.querySelector("video");
    if (!video) return;
    if (video.paused) video.play().catch(function () {}); // a refused play (no source yet) is not an error
    else video.pause();
  });

  // The Short's title and channel overlay step aside while the video plays, as on YouTube.
  ["play", "pause", "ended"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      var frame = event.target.closest && event.target.closest("[data-short]");
      if (frame) frame.classList.toggle("is-playing", name === "play");
    }, true);
  });
})();
