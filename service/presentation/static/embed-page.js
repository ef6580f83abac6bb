// The embed page's script: everything it adds the page already does without it, more slowly.
// It tells the host page its height (WordPress, Pym.js, or /embed.js), loads further pages and
// filters in place, keeps the list to a few hundred events, and inside WordPress's sandbox
// opens links through the host, the only way out a frame sandboxed to scripts has.
(function () {
  "use strict";
  var MOST = 300; // events kept in the list however far the reader goes
  var root = document.documentElement;
  root.classList.add("js");
  var secret = (location.hash.match(/secret=([\w-]+)/) || [])[1] || null;
  var childId = new URLSearchParams(location.search).get("childId");

  function tellHeight() {
    var height = Math.ceil(root.getBoundingClientRect().height);
    if (window.parent === window) return;
    if (secret) window.parent.postMessage({ message: "height", value: height, secret: secret }, "*");
    if (childId) window.parent.postMessage("pymxPYMx" + childId + "xPYMxheightxPYMx" + height, "*");
    window.parent.postMessage({ type: "dateline:height", height: height }, "*");
  }

  function list() {
    return document.querySelector("ol.timeline");
  }

  function setPager(rel, href) {
    var main = document.querySelector("main");
    var pager = main.querySelector('a[rel="' + rel + '"]');
    if (!href) {
      if (pager) pager.parentNode.remove();
      return;
    }
    if (!pager) {
      var paragraph = document.createElement("p");
      paragraph.className = "pager";
      pager = document.createElement("a");
      pager.rel = rel;
      pager.textContent = rel === "next" ? root.dataset.more || "…" : root.dataset.earlier || "…";
      paragraph.appendChild(pager);
      if (rel === "next") main.appendChild(paragraph);
      else main.insertBefore(paragraph, list());
    }
    pager.href = href;
  }

  function fetchPage(href) {
    return fetch(href, { headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.text();
      })
      .then(function (text) {
        return new DOMParser().parseFromString(text, "text/html");
      });
  }

  function nextOf(page) {
    var link = page.querySelector('main a[rel="next"]');
    return link ? link.getAttribute("href") : null;
  }

  function append(page) {
    var timeline = list();
    page.querySelectorAll("ol.timeline > li").forEach(function (item) {
      if (!document.getElementById(item.id)) timeline.appendChild(document.adoptNode(item));
    });
    var extra = timeline.children.length - MOST;
    if (extra > 0) {
      for (var i = 0; i < extra; i++) timeline.removeChild(timeline.firstElementChild);
      setPager("prev", location.pathname + location.search.replace(/([?&])cursor=[^&]*&?/, "$1"));
    }
    setPager("next", nextOf(page));
  }

  var loading = null;
  function loadNext() {
    var link = document.querySelector('main a[rel="next"]');
    if (!link || loading) return loading;
    var href = link.href;
    loading = fetchPage(href)
      .then(append)
      .then(tellHeight, function () { location.href = href; })
      .then(function () { loading = null; watchEnd(); });
    return loading;
  }

  // Reading on to the end of the list loads what follows: the last event coming into view
  // within the list, which scrolls inside the page (so the page keeps the height it told its
  // host, which may cap it: WordPress stops at 1,000 px).
  var watcher = window.IntersectionObserver
    ? new IntersectionObserver(function (entries) {
        if (entries.some(function (entry) { return entry.isIntersecting; })) loadNext();
      }, { root: list() })
    : null;
  function watchEnd() {
    if (!watcher) return;
    watcher.disconnect();
    var last = list().lastElementChild;
    if (last && document.querySelector('main a[rel="next"]')) watcher.observe(last);
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a");
    if (!link) return;
    if (link.rel === "next") {
      event.preventDefault();
      loadNext();
      return;
    }
    if (secret && link.getAttribute("href").charAt(0) !== "#") {
      // WordPress's host script follows a link only to this frame's own host: a source goes out
      // through our /go/ address, which redirects to it.
      event.preventDefault();
      var target = new URL(link.dataset.go || link.getAttribute("href"), location.href).href;
      window.parent.postMessage({ message: "link", value: target, secret: secret }, "*");
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList.contains("filters")) return;
    event.preventDefault();
    var href = form.action + "?" + new URLSearchParams(new FormData(form)).toString();
    fetchPage(href).then(function (page) {
      list().replaceChildren();
      setPager("prev", null);
      append(page);
      history.replaceState(null, "", href + location.hash);
      tellHeight();
      watchEnd();
    }, function () { location.href = href; });
  });

  document.addEventListener("DOMContentLoaded", function () {
    var more = document.querySelector('main a[rel="next"]');
    if (more) root.dataset.more = more.textContent;
    root.dataset.earlier = document.body.dataset.earlier || "";
    tellHeight();
    if (window.ResizeObserver) new ResizeObserver(tellHeight).observe(document.body);
    watchEnd();
  });
})();
