// The desk's only script (no library, no build step): live counts, a small Markdown toolbar, a warning
// before leaving a page with unsaved text, and the phone's switch between the contents and the preview.
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
  function changed(area) {
    area.dispatchEvent(new Event("input", { bubbles: true }));
  }
  function wrap(area, before, after) {
    var start = area.selectionStart, end = area.selectionEnd, text = area.value;
    area.value = text.slice(0, start) + before + text.slice(start, end) + after + text.slice(end);
    area.setSelectionRange(start + before.length, end + before.length);
    area.focus();
    changed(area);
  }
  function insert(area, text) {
    var start = area.selectionStart, end = area.selectionEnd;
    area.value = area.value.slice(0, start) + text + area.value.slice(end);
    area.setSelectionRange(start + text.length, start + text.length);
    area.focus();
    changed(area);
  }
  // The « Lien » button: a dialog asks for the text and the address, then writes [text](address).
  function askLink(area) {
    var dialog = document.getElementById("link-dialog");
    if (!dialog || typeof dialog.showModal !== "function") { wrap(area, "[", "](https://)"); return; }
    var start = area.selectionStart, end = area.selectionEnd;
    var text = dialog.querySelector("[name=link-text]"), address = dialog.querySelector("[name=link-url]");
    text.value = area.value.slice(start, end);
    address.value = "https://";
    dialog.onclose = function () {
      if (dialog.returnValue !== "insert" || !address.value.trim()) { area.focus(); return; }
      area.setSelectionRange(start, end);
      insert(area, "[" + (text.value.trim() || address.value.trim()) + "](" + address.value.trim() + ")");
    };
    dialog.returnValue = "";
    dialog.showModal();
    (text.value ? address : text).focus();
  }
  // A merge field as check reads it (core/merge.py's FIELD_RE): the fallback on one line, without braces,
  // between quotes it does not hold (straight double quotes inside both kinds become « »).
  function mergeField(name, fallback) {
    var text = fallback.replace(/[{}]+/g, "").replace(/\s+/g, " ").trim(), quote = '"';
    if (!text) { return "{{ " + name + " }}"; }
    if (text.indexOf('"') >= 0) {
      if (text.indexOf("'") < 0) { quote = "'"; } else {
        var open = true;
        text = text.replace(/"/g, function () { open = !open; return open ? "\u00a0»" : "«\u00a0"; });
      }
    }
    return "{{ " + name + " | default(" + quote + text + quote + ") }}";
  }
  // The « Insérer un champ » button: a dialog asks which field and what readers without one read instead.
  function askMerge(area) {
    var dialog = document.getElementById("merge-dialog");
    if (!dialog || typeof dialog.showModal !== "function") { return; }
    var start = area.selectionStart, end = area.selectionEnd;
    var field = dialog.querySelector("[name=merge-field]"), fallback = dialog.querySelector("[name=merge-fallback]");
    var suggest = function () { fallback.value = field.selectedOptions[0].getAttribute("data-fallback") || ""; };
    field.onchange = suggest;
    suggest();
    dialog.onclose = function () {
      if (dialog.returnValue !== "insert") { area.focus(); return; }
      area.setSelectionRange(start, end);
      insert(area, mergeField(field.value, fallback.value));
    };
    dialog.returnValue = "";
    dialog.showModal();
    field.focus();
  }
  // The merge fields of a text, said in words under it (« Prénom du lecteur, à défaut : … »).
  function sayMerge(area) {
    var out = document.querySelector('[data-merge-said="' + area.id + '"]');
    if (!out) { return; }
    var found = [], pattern = /\{\{\s*(first_name|last_name|email)\s*(?:\|\s*default\(\s*(?:"([^"\n]*)"|'([^'\n]*)')\s*\)\s*)?\}\}/g, m;
    while ((m = pattern.exec(area.value)) !== null) {
      var name = out.getAttribute("data-" + m[1].replace("_", "-"));
      var otherwise = m[2] || m[3];
      found.push(otherwise ? out.getAttribute("data-otherwise").replace("{field}", name).replace("{default}", otherwise) : name);
    }
    out.textContent = found.length ? out.getAttribute("data-lead") + " " + found.join(" ; ") : "";
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-counted]").forEach(function (input) {
      input.addEventListener("input", function () { update(input); });
      update(input);  // what was typed before the script ran counts too
    });
    document.querySelectorAll("[data-merge]").forEach(function (area) {
      area.addEventListener("input", function () { sayMerge(area); });
      sayMerge(area);
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
          askLink(area);
        } else if (button.hasAttribute("data-merge-insert")) {
          askMerge(area);
        } else if (button.hasAttribute("data-list")) {
          var start = area.value.lastIndexOf("\n", area.selectionStart - 1) + 1;
          area.setSelectionRange(start, start);
          wrap(area, "- ", "");
        }
      });
    });
    // Unsaved text: the save bar says so, and leaving the page asks first (the browser's own question).
    var whole = document.querySelector("form[data-whole]");
    if (whole) {
      var dirty = false, state = document.getElementById("save-state");
      var fields = Array.from(whole.elements).filter(function (el) { return el.type !== "hidden" && el.name; });
      var mark = function () {
        dirty = true;
        if (state) { state.textContent = state.getAttribute("data-unsaved"); state.classList.add("unsaved"); }
      };
      fields.forEach(function (el) { el.addEventListener("input", mark); });
      whole.addEventListener("submit", function () { dirty = false; });
      window.addEventListener("beforeunload", function (event) {
        if (dirty) { event.preventDefault(); event.returnValue = ""; }
      });
    }
    // On a phone: one of the contents or the check and preview at a time, switched by two buttons.
    var views = document.querySelector(".views"), desk = document.querySelector(".desk");
    if (views && desk) {
      views.hidden = false;
      desk.setAttribute("data-view", "forms");
      views.addEventListener("click", function (event) {
        var button = event.target.closest("button[data-view]");
        if (!button) { return; }
        desk.setAttribute("data-view", button.getAttribute("data-view"));
        views.querySelectorAll("button").forEach(function (b) { b.setAttribute("aria-pressed", String(b === button)); });
      });
    }
  });
})();
