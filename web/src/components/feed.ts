// A vertical, full-screen, swipeable list of videos (CSS scroll snapping). The slide most
// on screen plays; the next one is preloaded; the rest hold no decoder. A slide that
// leaves the screen reports its watch. Desktop: arrow keys (and j/k) move, space pauses,
// m toggles the sound, l likes, c opens the comments.

import { api, type Page, type Video, type WatchEvent } from "../api";
import { h } from "../dom";
import { closeComments, commentsOpen } from "./comments";
import { FeedItem } from "./feedItem";
import { sound } from "./sound";

const ON_SCREEN = 0.6; // share of a slide visible before it counts as the one being watched
const LOAD_MORE_WITHIN = 3; // fetch the next page when this few slides are left
const KEEP_LOADED = 1; // slides either side of the current one that keep their player

export type PageSource = (cursor: string | null) => Promise<Page<Video>>;

export class Feed {
  readonly el: HTMLElement;
  private items: FeedItem[] = [];
  private active = -1;
  private cursor: string | null = null;
  private exhausted = false;
  private loading: Promise<void> | null = null;
  private observer: IntersectionObserver;
  private onKey = (event: KeyboardEvent) => this.key(event);

  constructor(
    private readonly source: PageSource,
    private readonly emptyText: Node | string,
  ) {
    this.el = h("div.feed", { tabIndex: -1 });
    this.observer = new IntersectionObserver((entries) => this.seen(entries), {
      root: this.el,
      threshold: ON_SCREEN,
    });
    document.addEventListener("keydown", this.onKey);
    window.addEventListener("pagehide", this.flushOnHide);
    void this.loadMore();
  }

  destroy(): void {
    this.report(this.items[this.active]?.deactivate() ?? null);
    document.removeEventListener("keydown", this.onKey);
    window.removeEventListener("pagehide", this.flushOnHide);
    this.observer.disconnect();
    this.items.forEach((item) => item.destroy());
    closeComments();
  }

  /** Scroll to the next (+1) or previous (-1) video. */
  move(step: 1 | -1): void {
    const target = this.items[this.active + step];
    target?.el.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  private async loadMore(): Promise<void> {
    if (this.exhausted) return;
    this.loading ??= this.fetchPage().finally(() => (this.loading = null));
    return this.loading;
  }

  private async fetchPage(): Promise<void> {
    let page: Page<Video>;
    try {
      page = await this.source(this.cursor);
    } catch (error) {
      this.exhausted = true;
      if (!this.items.length) this.el.append(h("p.feed-empty", {}, (error as Error).message));
      return;
    }
    this.cursor = page.next_cursor;
    this.exhausted = page.next_cursor === null;
    const known = new Set(this.items.map((item) => item.video.id));
    for (const video of page.items) {
      if (video.status !== "ready" || known.has(video.id)) continue;
      const item = new FeedItem(video, (creatorId) => this.followed(creatorId));
      this.items.push(item);
      this.el.append(item.el);
      this.observer.observe(item.el);
    }
    if (!this.items.length) this.el.append(h("div.feed-empty", {}, this.emptyText));
  }

  private seen(entries: IntersectionObserverEntry[]): void {
    for (const entry of entries) {
      if (!entry.isIntersecting || entry.intersectionRatio < ON_SCREEN) continue;
      const index = this.items.findIndex((item) => item.el === entry.target);
      if (index >= 0) this.activate(index);
    }
  }

  private activate(index: number): void {
    if (index === this.active) return;
    this.report(this.items[this.active]?.deactivate() ?? null);
    this.active = index;
    this.el.dataset.active = String(index);
    void this.items[index].activate();
    void this.items[index + 1]?.player?.load(); // the next swipe starts at once
    this.items.forEach((item, i) => {
      if (Math.abs(i - index) > KEEP_LOADED) item.player?.unload();
    });
    if (this.items.length - index <= LOAD_MORE_WITHIN) void this.loadMore();
  }

  private followed(creatorId: string): void {
    for (const item of this.items) {
      if (item.video.creator.id === creatorId) item.setFollowing(true);
    }
  }

  private report(event: WatchEvent | null): void {
    if (event) void api.watched([event]).catch(() => undefined); // best effort
  }

  private flushOnHide = (): void => {
    const item = this.items[this.active];
    this.report(item?.player?.takeWatch(item.video.id) ?? null);
  };

  private key(event: KeyboardEvent): void {
    const target = event.target as HTMLElement;
    if (target.closest("input, textarea, select") || event.metaKey || event.ctrlKey) return;
    if (event.key === "Escape" && commentsOpen()) return closeComments();
    if (commentsOpen()) return;
    const item = this.items[this.active];
    const actions: Record<string, () => void> = {
      ArrowDown: () => this.move(1),
      ArrowUp: () => this.move(-1),
      j: () => this.move(1),
      k: () => this.move(-1),
      " ": () => item?.togglePause(),
      m: () => sound.toggle(),
      l: () => void item?.toggleLike(),
      c: () => item?.comments(),
    };
    const action = actions[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  }
}
