// The desk's only script (no library, no build step): live counts and a small Markdown toolbar.
// Everything works without it; it only saves the editor a save to see the counts.
"use strict";
(function () {
  function words(text) {
    var found = text.replace(/\]\([^)]*\)/g, "]").match(/[\p{L}\p{N}_’'-]+/gu);
    return found ? found.length : 0;
  }
  function update(input) {
    var label = document.querySelector('label[for="' + input.id + '"] [data-count]');
    if (!label) { return; }
    var limit = parseInt(label.getAttribute("data-limit"), 10);
    var value = label.getAttribute("data-count") === "words" ? words(input.value) : Array.from(input.value).length;
    label.textContent = value + " / " + limit;
    label.classList.toggle("over", value > limit);
  }
  function wrap(area, before, after) {
    var start = area.selectionStart, end = area.selectionEnd, text = area.value;
    area.value = text.slice(0, start) + before + text.slice(start, end) + after + text.slice(end);
    area.setSelectionRange(start + before.length, end + before.length);
    area.focus();
    update(area);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-counted]").forEach(function (input) {
      input.addEventListener("input", function () { update(input); });
    });
    document.querySelectorAll(".toolbar").forEach(function (bar) {
      var area = document.getElementById(bar.getAttribute("data-for"));
      if (!area) { return; }
      bar.hidden = false;
      bar.addEventListener("click", function (event) {
        var button = event.target.closest("button");
        if (!button) { return; }
        if (button.hasAttribute("data-wrap")) {
          var mark = button.getAttribute("data-wrap");
          wrap(area, mark, mark);
        } else if (button.hasAttribute("data-link")) {
          wrap(area, "[", "](https://)");
        } else if (button.hasAttribute("data-list")) {
          var start = area.value.lastIndexOf("\n", area.selectionStart - 1) + 1;
          area.setSelectionRange(start, start);
          wrap(area, "- ", "");
        }
      });
    });
  });
})();
