// A three-column grid of video thumbnails (profiles, search results).

import type { Video } from "../api";
import { compact, h } from "../dom";
import { icon } from "./icons";

export function videoGrid(videos: Video[]): HTMLElement {
  return h("div.video-grid", {}, ...videos.map(videoCell));
}

export function videoCell(video: Video): HTMLElement {
  const ready = video.status === "ready";
  return h(
    "a.video-cell",
    { href: `/v/${video.id}`, "data-video-id": video.id, title: video.caption },
    video.thumbnail_url
      ? h("img", { src: video.thumbnail_url, alt: video.caption || "video", loading: "lazy" })
      : h("div.no-thumb", {}, ready ? "" : `${video.status} ${Math.round(video.progress)}%`),
    h("span.cell-count", {}, icon("play", "icon tiny"), compact(video.counts.views)),
  );
}
