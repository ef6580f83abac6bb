// Dateline's host script: <script src="https://DATELINE/embed.js" async></script> beside one or
// more <iframe data-dateline src="https://DATELINE/embed/..."> sizes each frame to the height its
// page reports. A message counts only if it comes from one of those frames' own windows.
(function () {
  "use strict";
  window.addEventListener("message", function (event) {
    var data = event.data;
    if (!data || data.type !== "dateline:height" || typeof data.height !== "number") return;
    var frames = document.querySelectorAll("iframe[data-dateline]");
    for (var i = 0; i < frames.length; i++) {
      if (frames[i].contentWindow === event.source) {
        frames[i].style.height = Math.max(120, Math.min(data.height, 20000)) + "px";
        return;
      }
    }
  });
})();
