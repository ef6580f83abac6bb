// <dateline-timeline>: a Dateline timeline in a page that allows scripts, drawn in its own
// shadow DOM as the embed page draws it, and kept live the same way (TimelineView). It asks the
// service it was loaded from for everything, sends no cookies, and talks to no one else.
//
//   <script type="module" src="https://dateline.example/widget.js"></script>
//   <dateline-timeline entity="mai-1" lang="fr"></dateline-timeline>
import { TimelineView } from "./static/timeline.js";

const SERVICE = new URL(".", import.meta.url).href;
const QUERY = ["entities", "tags", "types", "from", "to", "as_of", "lang", "theme"];

class DatelineTimeline extends HTMLElement {
  static observedAttributes = ["entity", ...QUERY];

  connectedCallback() {
    this.draw();
  }

  disconnectedCallback() {
    this.view?.close();
    this.view = null;
  }

  attributeChangedCallback() {
    if (this.isConnected && this.shadowRoot) this.draw();
  }

  page() {
    const entity = this.getAttribute("entity");
    const page = new URL(entity ? `embed/${encodeURIComponent(entity)}` : "embed", SERVICE);
    for (const name of QUERY) {
      const value = this.getAttribute(name);
      if (value) page.searchParams.set(name, value);
    }
    return page.href;
  }

  async draw() {
    const root = this.shadowRoot || this.attachShadow({ mode: "open" });
    const href = this.page();
    this.drawing = href;
    const response = await fetch(href, { headers: { Accept: "text/html" }, credentials: "omit" });
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    if (this.drawing !== href) return; // attributes changed meanwhile: a later draw wins
    const style = document.createElement("link");
    style.rel = "stylesheet";
    style.href = new URL("static/embed.css", SERVICE).href;
    const frame = document.createElement("div");
    frame.className = "dl-root js";
    frame.dataset.theme = page.documentElement.dataset.theme || "auto";
    frame.lang = page.documentElement.lang;
    Object.assign(frame.dataset, page.body.dataset);
    frame.append(...[...page.body.children].map((part) => document.adoptNode(part)));
    this.view?.close();
    root.replaceChildren(style, frame);
    this.view = new TimelineView(root, {
      base: SERVICE,
      home: href,
      frame: frame,
      navigated: () => this.draw(),
    });
  }
}

if (!customElements.get("dateline-timeline")) customElements.define("dateline-timeline", DatelineTimeline);
