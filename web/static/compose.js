// The composer's "N characters left": the limit is in UTF-8 bytes, so what is left is
// estimated from the bytes per character of the text so far. The page works without this.
"use strict";
(function () {
  const area = document.querySelector("textarea[data-limit-bytes]");
  const out = document.getElementById("text-left");
  if (!area || !out) return;
  const limit = Number(area.dataset.limitBytes);
  const encoder = new TextEncoder();
  function update() {
    const text = area.value;
    const bytes = encoder.encode(text).length;
    const chars = Array.from(text).length;
    const perChar = chars ? bytes / chars : 1;
    const left = Math.floor((limit - bytes) / perChar);
    out.textContent = left >= 0
      ? left + (left === 1 ? " character" : " characters") + " left"
      : (-left) + (left === -1 ? " character" : " characters") + " too many (" + bytes + " of " + limit + " bytes)";
    out.classList.toggle("over", left < 0);
  }
  area.addEventListener("input", update);
  update();
})();
