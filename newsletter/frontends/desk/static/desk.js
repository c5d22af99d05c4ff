// The desk's only script (no library, no build step): live counts, a small Markdown toolbar, a warning
// before leaving a page with unsaved text, the unknown words kept underlined as the editor types, and the
// phone's switch between the contents and the preview.
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
  // The words the last check did not know, underlined in the copy of their field under it (the page renders it;
  // this keeps it in step as the editor types: the words flagged then, wherever they are now; a new unknown word
  // is flagged at the next save). Each one opens its suggestions, and a suggestion replaces the word in the field.
  // The words are cut out as issues.py's marked() cuts them: whole words, no letter or digit on either side.
  function spellingPattern(words) {
    var list = Object.keys(words).sort(function (a, b) { return b.length - a.length; }).map(function (w) {
      return w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    });
    return list.length ? new RegExp("(?<![\\p{L}\\p{N}])(?:" + list.join("|") + ")(?![\\p{L}\\p{N}])", "gu") : null;
  }
  function placePanel(panel) {  // kept inside the window (a word near the right edge of a phone's screen)
    panel.style.left = "0";
    var right = panel.getBoundingClientRect().right, room = document.documentElement.clientWidth - 8;
    if (right > room) { panel.style.left = (room - right) + "px"; }
  }
  function unknownWord(box, field, word, start, suggestions, n) {
    var id = field.id + "-word-" + n, wrap = document.createElement("span");
    var button = document.createElement("button"), panel = document.createElement("span");
    wrap.className = "misspelled-word";
    button.type = "button";
    button.className = "misspelled";
    button.textContent = word;
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-controls", id);
    button.setAttribute("aria-describedby", id);
    panel.className = "suggestions";
    panel.id = id;
    if (!suggestions.length) {
      panel.textContent = box.getAttribute("data-none");
    } else {
      panel.appendChild(document.createTextNode(box.getAttribute("data-perhaps").split("{words}")[0]));
      suggestions.forEach(function (instead) {
        var choice = document.createElement("button");
        choice.type = "button";
        choice.textContent = instead;
        choice.setAttribute("aria-label", box.getAttribute("data-replace").replace("{word}", instead));
        choice.addEventListener("click", function () {
          if (field.value.substr(start, word.length) === word) {
            field.value = field.value.slice(0, start) + instead + field.value.slice(start + word.length);
            field.focus();
            field.setSelectionRange(start + instead.length, start + instead.length);
            changed(field);  // counted, marked unsaved, and this copy drawn again
          } else {
            spell(box);
          }
        });
        panel.appendChild(choice);
      });
    }
    button.addEventListener("click", function () {
      var open = button.getAttribute("aria-expanded") !== "true";
      box.querySelectorAll("button.misspelled[aria-expanded=true]").forEach(function (other) {
        other.setAttribute("aria-expanded", "false");
      });
      button.setAttribute("aria-expanded", String(open));
      if (open) { placePanel(panel); }
    });
    wrap.addEventListener("mouseenter", function () { placePanel(panel); });
    wrap.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
        button.setAttribute("aria-expanded", "false");
        button.focus();
      }
    });
    wrap.appendChild(button);
    wrap.appendChild(panel);
    return wrap;
  }
  function spell(box) {  // the lines holding an unknown word; a run of other lines is one "…"
    var field = document.getElementById(box.getAttribute("data-spelling-for"));
    var out = box.querySelector(".spelling-text");
    if (!field || !out) { return; }
    var words = JSON.parse(box.getAttribute("data-words") || "{}"), pattern = spellingPattern(words);
    var n = 0, offset = 0, skipped = false;
    out.textContent = "";
    field.value.split("\n").forEach(function (line) {
      var found, at = 0, start = offset, parts = [];
      offset += line.length + 1;
      while (pattern && (found = pattern.exec(line)) !== null) {
        parts.push(document.createTextNode(line.slice(at, found.index)));
        n += 1;
        parts.push(unknownWord(box, field, found[0], start + found.index, words[found[0]] || [], n));
        at = found.index + found[0].length;
      }
      if (!parts.length && skipped) { return; }
      if (out.childNodes.length) { out.appendChild(document.createTextNode("\n")); }
      skipped = !parts.length;
      if (skipped) { out.appendChild(document.createTextNode("\u2026")); return; }
      parts.forEach(function (part) { out.appendChild(part); });
      out.appendChild(document.createTextNode(line.slice(at)));
    });
    box.hidden = n === 0;
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".spelling[data-spelling-for]").forEach(function (box) {
      var field = document.getElementById(box.getAttribute("data-spelling-for"));
      if (!field) { return; }
      box.setAttribute("data-live", "");
      field.addEventListener("input", function () { spell(box); });
      spell(box);
    });
    document.addEventListener("click", function (event) {  // a tap elsewhere closes the suggestions
      document.querySelectorAll("button.misspelled[aria-expanded=true]").forEach(function (button) {
        if (!button.parentNode.contains(event.target)) { button.setAttribute("aria-expanded", "false"); }
      });
    });
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
