// The home screen: For You and Following tabs over a full-screen feed.

import { api } from "../api";
import { Feed } from "../components/feed";
import { h } from "../dom";
import type { View } from "../router";

type Tab = "foryou" | "following";

export function feedPage(tab: Tab): View {
  const feed = new Feed(
    (cursor) => api.feed(tab, cursor),
    tab === "following"
      ? h(
          "div",
          {},
          h("h2", {}, "Nothing from people you follow yet"),
          h("p", {}, "Follow creators from For You and their videos land here."),
          h("a.button.primary", { href: "/" }, "Browse For You"),
        )
      : h(
          "div",
          {},
          h("h2", {}, "No videos yet"),
          h("p", {}, "Be the first: upload one."),
          h("a.button.primary", { href: "/upload" }, "Upload"),
        ),
  );
  const tabs = h(
    "nav.feed-tabs",
    { "aria-label": "Feeds" },
    tabLink("/following", "Following", tab === "following"),
    tabLink("/", "For You", tab === "foryou"),
  );
  const el = h("section.page.feed-page", { "data-tab": tab }, tabs, feed.el);
  return { el, destroy: () => feed.destroy() };
}

function tabLink(href: string, text: string, selected: boolean): HTMLElement {
  return h(
    `a.feed-tab${selected ? ".selected" : ""}`,
    { href, "aria-current": selected ? "page" : undefined },
    text,
  );
}
