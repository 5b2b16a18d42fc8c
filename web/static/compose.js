// The composer's enhancements; the page works without them (same-origin, no code from
// strings, text set as text only).
"use strict";

// "N characters left": the limit is in UTF-8 bytes, so what is left is estimated from the
// bytes per character of the text so far.
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

// Previews of the picked images before Post. Each file is decoded locally
// (createImageBitmap) and drawn on a <canvas>: no blob: or data: URL is made, so the
// page's CSP keeps img-src 'self' and nothing is fetched. A file the server would refuse
// (too many, too large, not an accepted type) is named as such; the server still checks.
(function () {
  const SIDE = 320; // canvas pixels (CSS shows at most 160 px: sharp on 2x screens)
  function size(bytes) {
    if (bytes < 1024) return bytes + (bytes === 1 ? " byte" : " bytes");
    return bytes < 1048576 ? Math.round(bytes / 1024) + " KiB" : (bytes / 1048576).toFixed(1) + " MiB";
  }
  function note(item, text) {
    const p = document.createElement("span");
    p.className = "problem";
    p.textContent = text;
    item.classList.add("refused");
    item.append(p);
  }
  for (const input of document.querySelectorAll("input[type=file][name=attach]")) {
    const list = document.createElement("ul");
    list.className = "previews";
    list.setAttribute("aria-label", "Images to post");
    list.hidden = true;
    (input.closest(".row") || input.parentElement).after(list);
    const maxFiles = Number(input.dataset.maxFiles) || Infinity;
    const maxBytes = Number(input.dataset.maxBytes) || Infinity;
    const types = (input.accept || "").split(",").filter(Boolean);
    // The alt-text fields (one per file, in order) move under the preview of their image,
    // named after it; the ones not needed wait, hidden, in their fieldset.
    const form = input.closest("form");
    const altBox = form && form.querySelector("fieldset.alts");
    const alts = altBox ? Array.from(altBox.querySelectorAll("label.alt-new")) : [];
    if (altBox) altBox.hidden = true;
    let generation = 0; // a new pick replaces the previews of the one before
    input.addEventListener("change", function () {
      const mine = ++generation;
      for (const label of alts) altBox.append(label);
      list.replaceChildren();
      const files = Array.from(input.files || []);
      list.hidden = files.length === 0;
      files.forEach(function (file, i) {
        const item = document.createElement("li");
        const canvas = document.createElement("canvas");
        canvas.width = canvas.height = 0;
        canvas.setAttribute("role", "img");
        canvas.setAttribute("aria-label", "Preview of " + file.name);
        const caption = document.createElement("span");
        caption.className = "caption";
        caption.textContent = file.name + " · " + size(file.size);
        item.append(canvas, caption);
        if (alts[i]) {
          alts[i].firstChild.textContent = "Alt text ";
          alts[i].querySelector("input").setAttribute("aria-label", "Alt text for " + file.name);
          item.append(alts[i]);
        }
        list.append(item);
        if (i >= maxFiles) return note(item, "not posted: at most " + maxFiles + " images per post");
        if (file.size > maxBytes) return note(item, "too large: at most " + size(maxBytes));
        if (types.length && !types.includes(file.type)) {
          return note(item, "not accepted: " + (input.dataset.kinds || types.join(", ")) + " only");
        }
        createImageBitmap(file).then(function (bitmap) {
          if (mine !== generation) return bitmap.close();
          const scale = Math.min(1, SIDE / Math.max(bitmap.width, bitmap.height));
          canvas.width = Math.max(1, Math.round(bitmap.width * scale));
          canvas.height = Math.max(1, Math.round(bitmap.height * scale));
          canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
          bitmap.close();
          item.classList.add("shown");
        }, function () {
          if (mine === generation) note(item, "cannot be shown: the file is not a readable image");
        });
      });
    });
  }
})();

// The reply box a "Reply" opened is focused by `autofocus`; a browser scrolls it into view only
// when none of it shows, so on a phone it may hang half below the screen: show all of it.
(function () {
  const area = document.querySelector("#reply textarea[autofocus]");
  if (area) window.addEventListener("load", function () { area.scrollIntoView({ block: "nearest" }); });
})();
