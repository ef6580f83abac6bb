// The embed page's script: everything it adds the page already does without it, more slowly.
// Its timeline moves through TimelineView (further pages, filters, live changes); this script
// tells the host page its height (WordPress, Pym.js, or /embed.js), and inside WordPress's
// sandbox opens links through the host, the only way out a frame sandboxed to scripts has.
import { TimelineView } from "./timeline.js";

const root = document.documentElement;
root.classList.add("js");
const secret = (location.hash.match(/secret=([\w-]+)/) || [])[1] || null;
const childId = new URLSearchParams(location.search).get("childId");

function tellHeight() {
  const height = Math.ceil(root.getBoundingClientRect().height);
  if (window.parent === window) return;
  if (secret) window.parent.postMessage({ message: "height", value: height, secret: secret }, "*");
  if (childId) window.parent.postMessage("pymxPYMx" + childId + "xPYMxheightxPYMx" + height, "*");
  window.parent.postMessage({ type: "dateline:height", height: height }, "*");
}

document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest("a");
  if (!secret || !link || event.defaultPrevented) return;
  const href = link.getAttribute("href");
  if (href.charAt(0) === "#" || link.rel === "next" || link.classList.contains("reload")) return;
  // WordPress's host script follows a link only to this frame's own host: a source goes out
  // through our /go/ address, which redirects to it.
  event.preventDefault();
  const target = new URL(link.dataset.go || href, location.href).href;
  window.parent.postMessage({ message: "link", value: target, secret: secret }, "*");
});

const home = location.pathname + location.search.replace(/([?&])cursor=[^&]*&?/, "$1").replace(/[?&]$/, "");
new TimelineView(document, {
  base: location.href,
  home: home,
  frame: document.body,
  changed: (href) => {
    if (href) history.replaceState(null, "", href + location.hash);
    tellHeight();
  },
  navigated: (href) => {
    location.href = href;
  },
});
tellHeight();
if (window.ResizeObserver) new ResizeObserver(tellHeight).observe(document.body);
