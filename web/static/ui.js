// Small enhancements of every page; each page works without them (same-origin, no code
// from strings, text set as text only). Copy buttons appear only when script runs (the field itself is
// selectable); post times get the absolute time in the reader's own time zone on hover.
"use strict";
(function () {
  for (const button of document.querySelectorAll("button.copy[data-copy]")) {
    const field = document.getElementById(button.dataset.copy);
    if (!field) continue;
    button.hidden = false;
    button.addEventListener("click", function () {
      field.select();
      const done = function () { button.textContent = "Copied"; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
      } else {
        document.execCommand("copy");
        done();
      }
    });
  }
  for (const field of document.querySelectorAll("input.copy-field")) {
    field.addEventListener("focus", function () { field.select(); });
  }
  for (const t of document.querySelectorAll("time[datetime]")) {
    const d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d.getTime())) t.title = d.toLocaleString() + (t.title.includes("#") ? " · " + t.title.split(" · ").pop() : "");
  }
})();
