// A timeline as the embed page renders it, made to move: further pages and filters loaded in
// place, the list kept to a few hundred events, and the changes of its live stream shown as they
// come (a notice for new events, corrections on their own item). The embed page and the
// <dateline-timeline> element both drive their list through it, so they behave the same.
//
// Everything it inserts is HTML the service rendered and escaped; it parses it inert (a
// <template>, a DOMParser document) and only moves elements, never sets markup from data.

const MOST = 300; // events kept in the list however far the reader goes
const POLL_MS = 20000; // how often a timeline without a stream asks whether it changed

function inert(html) {
  const holder = document.createElement("template");
  holder.innerHTML = html;
  return holder.content.firstElementChild;
}

export class TimelineView {
  // root: the document or a shadow root holding the page's markup; base: what its relative
  // links are relative to; home: its first page; frame: the element carrying its words.
  constructor(root, { base, home, frame, changed = () => {}, navigated = () => {} }) {
    this.root = root;
    this.base = base;
    this.home = home;
    this.frame = frame;
    this.changed = changed;
    this.navigated = navigated;
    this.loading = null;
    this.arrived = [];
    this.source = null;
    this.timer = null;
    this.etag = null;
    this.more = this.find('main a[rel="next"]')?.textContent || "…";
    this.watcher = window.IntersectionObserver
      ? new IntersectionObserver((entries) => {
          if (entries.some((entry) => entry.isIntersecting)) this.loadNext();
        }, { root: this.list() })
      : null;
    this.onClick = (event) => this.click(event);
    this.onSubmit = (event) => this.submit(event);
    root.addEventListener("click", this.onClick);
    root.addEventListener("submit", this.onSubmit);
    this.watchEnd();
    this.follow();
  }

  close() {
    this.root.removeEventListener("click", this.onClick);
    this.root.removeEventListener("submit", this.onSubmit);
    this.watcher?.disconnect();
    this.source?.close();
    clearTimeout(this.timer);
  }

  find(selector) {
    return this.root.querySelector(selector);
  }

  list() {
    return this.find("ol.timeline");
  }

  url(href) {
    return new URL(href, this.base).href;
  }

  fetchPage(href) {
    return fetch(this.url(href), { headers: { Accept: "text/html" }, credentials: "omit" })
      .then((response) => {
        if (!response.ok) throw new Error(response.status);
        return response.text();
      })
      .then((text) => new DOMParser().parseFromString(text, "text/html"));
  }

  setPager(rel, href) {
    const main = this.find("main");
    let pager = main.querySelector(`a[rel="${rel}"]`);
    if (!href) {
      pager?.parentNode.remove();
      return;
    }
    if (!pager) {
      const paragraph = document.createElement("p");
      paragraph.className = "pager";
      pager = document.createElement("a");
      pager.rel = rel;
      pager.textContent = rel === "next" ? this.more : this.frame.dataset.earlier || "…";
      paragraph.appendChild(pager);
      if (rel === "next") main.appendChild(paragraph);
      else main.insertBefore(paragraph, this.list());
    }
    pager.href = this.url(href);
  }

  append(page) {
    const timeline = this.list();
    page.querySelectorAll("ol.timeline > li").forEach((item) => {
      if (!this.item(item.id)) timeline.appendChild(document.adoptNode(item));
    });
    const extra = timeline.children.length - MOST;
    if (extra > 0) {
      for (let i = 0; i < extra; i++) timeline.removeChild(timeline.firstElementChild);
      this.setPager("prev", this.home);
    }
    const next = page.querySelector('main a[rel="next"]');
    this.setPager("next", next ? next.getAttribute("href") : null);
  }

  item(id) {
    return this.list().querySelector(`li[id="${CSS.escape(id)}"]`);
  }

  loadNext() {
    const link = this.find('main a[rel="next"]');
    if (!link || this.loading) return this.loading;
    const href = link.href;
    this.loading = this.fetchPage(href)
      .then((page) => this.append(page))
      .then(() => this.changed(), () => this.navigated(href))
      .then(() => {
        this.loading = null;
        this.watchEnd();
      });
    return this.loading;
  }

  // Reading on to the end of the list loads what follows: the last event coming into view
  // within the list, which scrolls inside the page (so the page keeps the height it told its
  // host, which may cap it: WordPress stops at 1,000 px).
  watchEnd() {
    if (!this.watcher) return;
    this.watcher.disconnect();
    const last = this.list().lastElementChild;
    if (last && this.find('main a[rel="next"]')) this.watcher.observe(last);
  }

  click(event) {
    const link = event.target.closest && event.target.closest("a, button");
    if (!link) return;
    if (link.rel === "next") {
      event.preventDefault();
      this.loadNext();
    } else if (link.classList.contains("see-new")) {
      this.showArrived();
    } else if (link.classList.contains("reload")) {
      event.preventDefault();
      this.navigated(this.home);
    }
  }

  submit(event) {
    const form = event.target;
    if (!form.classList.contains("filters")) return;
    event.preventDefault();
    const href = this.url(form.getAttribute("action")) + "?" + new URLSearchParams(new FormData(form));
    this.fetchPage(href).then((page) => {
      this.list().replaceChildren();
      this.setPager("prev", null);
      this.append(page);
      this.adopt(page);
      this.changed(href);
      this.watchEnd();
    }, () => this.navigated(href));
  }

  // A filtered page follows its own stream: the one its own list names.
  adopt(page) {
    const fresh = page.querySelector("ol.timeline");
    const timeline = this.list();
    for (const name of ["live", "poll"]) {
      if (fresh?.dataset[name]) timeline.dataset[name] = fresh.dataset[name];
      else delete timeline.dataset[name];
    }
    this.source?.close();
    clearTimeout(this.timer);
    this.etag = null;
    this.follow();
  }

  // Live: the stream the page names, from where the log stood when it was rendered; where a
  // stream cannot be had (no EventSource, or the service refused it), the JSON timeline is
  // polled with If-None-Match, and the page read again only when it changed.
  follow() {
    const timeline = this.list();
    if (!timeline.dataset.live) return;
    if (!window.EventSource) {
      this.poll();
      return;
    }
    const source = new EventSource(this.url(timeline.dataset.live));
    this.source = source;
    source.addEventListener("change", (event) => this.apply(JSON.parse(event.data)));
    source.addEventListener("removed", (event) => this.item(`event-${JSON.parse(event.data).id}`)?.remove());
    source.addEventListener("reload", () => {
      source.close();
      this.notice(this.frame.dataset.reload, "reload");
    });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED && this.source === source) this.poll();
    });
  }

  poll() {
    const timeline = this.list();
    if (!timeline.dataset.poll) return;
    this.timer = setTimeout(() => {
      const headers = this.etag ? { "If-None-Match": this.etag } : {};
      fetch(this.url(timeline.dataset.poll), { headers, credentials: "omit", cache: "no-store" })
        .then((response) => {
          if (response.status !== 200) return null;
          const first = this.etag === null;
          this.etag = response.headers.get("ETag");
          return first ? null : this.fetchPage(this.home);
        })
        .then((page) => page && page.querySelectorAll("ol.timeline > li").forEach((item) => this.place(item, true)))
        .catch(() => {})
        .then(() => this.poll());
    }, POLL_MS);
  }

  apply(change) {
    if (change.html) this.place(inert(change.html), change.kind === "added", change.kind === "amended");
  }

  // A fact told live: in place of its old self, or where it falls in the list and announced.
  // An amendment is a silent fix: the item is mended where it stands, not highlighted.
  place(item, announce, silent = false) {
    const old = this.item(item.id);
    if (old) {
      if (old.outerHTML === item.outerHTML) return;
      if (!silent) item.classList.add("arrived");
      old.replaceWith(item);
    } else {
      if (!this.insert(item)) return;
      item.classList.add("arrived");
      if (announce) {
        this.arrived.push(item);
        const forms = this.frame.dataset;
        const count = this.arrived.length;
        const form = new Intl.PluralRules(this.frame.lang || document.documentElement.lang || "en").select(count);
        const text = (form === "one" ? forms.arrivedOne : forms.arrivedOther).replace("{n}", count);
        this.notice(text, "see-new", forms.seeNew);
      }
    }
    this.changed();
  }

  // Where an event goes by its date: before the first that comes after it, or at the end when
  // no later page holds what follows (else it will come with that page).
  insert(item) {
    const timeline = this.list();
    const descending = "descending" in timeline.dataset;
    const key = item.dataset.order;
    const after = [...timeline.children].find((other) =>
      descending ? other.dataset.order < key : other.dataset.order > key,
    );
    if (after) timeline.insertBefore(item, after);
    else if (!this.find('main a[rel="next"]')) timeline.appendChild(item);
    else return false;
    return true;
  }

  notice(text, action, label) {
    const notice = this.find("p.notice");
    const button = document.createElement(action === "reload" ? "a" : "button");
    button.className = action;
    if (action === "reload") {
      button.href = this.url(this.home);
      button.textContent = text;
      notice.replaceChildren(button);
    } else {
      button.type = "button";
      button.textContent = label;
      notice.replaceChildren(document.createTextNode(text + " "), button);
    }
    notice.hidden = false;
    this.changed();
  }

  showArrived() {
    const first = this.arrived.find((item) => item.isConnected);
    this.arrived = [];
    const notice = this.find("p.notice");
    notice.hidden = true;
    notice.replaceChildren();
    const heading = first?.querySelector("h2");
    first?.scrollIntoView({ block: "nearest" });
    heading?.setAttribute("tabindex", "-1");
    heading?.focus();
    this.changed();
  }
}
