// One video by itself (/v/<id>): where shared links land.

import { api } from "../api";
import { Feed } from "../components/feed";
import { h } from "../dom";
import type { RouteContext, View } from "../router";

export function videoPage({ params }: RouteContext): View {
  const feed = new Feed(async () => {
    const video = await api.video(params.id);
    if (video.status !== "ready") throw new Error(`This video is ${video.status}.`);
    return { items: [video], next_cursor: null };
  }, "This video is gone.");
  const back = h("a.back", { href: "/", "aria-label": "Back to the feed" }, "‹ Feed");
  const el = h("section.page.feed-page.single", {}, back, feed.el);
  return { el, destroy: () => feed.destroy() };
}
