// One slide of the feed: the video, its caption and creator, and the action rail
// (follow, like, comments, share, sound). Tap pauses, a double tap likes.

import { api, type Video } from "../api";
import { captionNodes, compact, h } from "../dom";
import { navigate } from "../router";
import { session } from "../session";
import { openComments } from "./comments";
import { icon } from "./icons";
import { Player } from "./player";
import { sound } from "./sound";
import { attempt, toast } from "./toast";

const DOUBLE_TAP_MS = 300; // two taps closer than this are a like, not two pauses

export class FeedItem {
  readonly el: HTMLElement;
  readonly player: Player | null;
  private likeButton: HTMLButtonElement;
  private followButton: HTMLButtonElement;
  private commentCount: HTMLElement;
  private shareCount: HTMLElement;
  private tapTimer: number | undefined;
  private unsubscribeSound: () => void = () => {};

  constructor(
    readonly video: Video,
    private readonly onFollow: (creatorId: string) => void,
  ) {
    this.player = video.manifest_url ? new Player(video.manifest_url, video.thumbnail_url) : null;
    // Portrait fills the screen (cropping a little at the sides); landscape is letterboxed.
    if ((video.height ?? 0) > (video.width ?? 0)) this.player?.video.classList.add("portrait");
    this.likeButton = h("button.action.like", {
      onclick: () => this.toggleLike(),
      "aria-label": "Like",
    });
    this.followButton = h(
      "button.follow-plus",
      { onclick: () => this.follow(), "aria-label": `Follow @${video.creator.username}` },
      icon("plus"),
    );
    this.commentCount = h("span", {}, compact(video.counts.comments));
    this.shareCount = h("span", {}, compact(video.counts.shares));
    this.el = this.render();
    // The pause mark follows the video itself (a tap, a key, the end of autoplay).
    const media = this.player?.video;
    media?.addEventListener("pause", () => this.el.classList.toggle("paused", this.isActive));
    media?.addEventListener("play", () => this.el.classList.remove("paused"));
    this.showLike();
    this.showFollowing();
  }

  private render(): HTMLElement {
    const v = this.video;
    const name = v.creator.display_name || v.creator.username;
    const stage = h(
      "div.stage",
      { onclick: (e: MouseEvent) => this.tap(e) },
      this.player?.video ?? h("p.muted", {}, "This video is not ready yet."),
      h("div.paused-mark", {}, icon("play")),
    );
    const soundButton = h("button.action.sound", {
      onclick: () => sound.toggle(),
      "aria-label": "Sound",
    });
    const showSound = (muted: boolean): void => {
      soundButton.replaceChildren(icon(muted ? "soundOff" : "soundOn"));
      soundButton.setAttribute("aria-pressed", String(!muted));
    };
    showSound(sound.muted);
    this.unsubscribeSound = sound.subscribe(showSound);
    return h(
      "article.slide",
      { "data-video-id": v.id },
      stage,
      h(
        "div.info",
        {},
        h("a.creator", { href: `/u/${v.creator.username}` }, `@${v.creator.username}`),
        h("p.caption", {}, ...captionNodes(v.caption)),
      ),
      h(
        "aside.rail",
        {},
        h(
          "div.avatar-wrap",
          {},
          h("a.avatar", { href: `/u/${v.creator.username}`, title: name }, name[0].toUpperCase()),
          this.followButton,
        ),
        this.likeButton,
        h(
          "button.action.comments",
          { onclick: () => this.comments(), "aria-label": "Comments" },
          icon("comment"),
          this.commentCount,
        ),
        h(
          "button.action.share",
          { onclick: () => this.share(), "aria-label": "Share" },
          icon("share"),
          this.shareCount,
        ),
        soundButton,
      ),
    );
  }

  get isActive(): boolean {
    return this.el.classList.contains("active");
  }

  async activate(): Promise<void> {
    this.el.classList.add("active");
    await this.player?.play();
  }

  /** Pause and hand back what was watched (the feed reports it). */
  deactivate(): ReturnType<Player["takeWatch"]> {
    this.el.classList.remove("active", "paused");
    this.player?.pause();
    return this.player?.takeWatch(this.video.id) ?? null;
  }

  destroy(): void {
    this.player?.destroy();
    this.unsubscribeSound();
  }

  togglePause(): void {
    if (!this.player) return;
    if (this.player.paused) void this.player.play();
    else this.player.pause();
  }

  setFollowing(following: boolean): void {
    this.video.viewer.following = following;
    this.showFollowing();
  }

  private tap(event: MouseEvent): void {
    if (this.tapTimer !== undefined) {
      clearTimeout(this.tapTimer);
      this.tapTimer = undefined;
      this.burst(event);
      if (!this.video.viewer.liked) void this.toggleLike();
      return;
    }
    this.tapTimer = window.setTimeout(() => {
      this.tapTimer = undefined;
      this.togglePause();
    }, DOUBLE_TAP_MS);
  }

  private burst(event: MouseEvent): void {
    const stage = event.currentTarget as HTMLElement;
    const box = stage.getBoundingClientRect();
    const heart = icon("heart", "burst");
    heart.style.left = `${event.clientX - box.left}px`;
    heart.style.top = `${event.clientY - box.top}px`;
    stage.append(heart);
    setTimeout(() => heart.remove(), 800);
  }

  async toggleLike(): Promise<void> {
    if (!this.requireSignIn()) return;
    const v = this.video;
    const liked = !v.viewer.liked;
    v.viewer.liked = liked; // optimistic: a like must feel instant
    v.counts.likes += liked ? 1 : -1;
    this.showLike();
    const done = await attempt(() => (liked ? api.like(v.id) : api.unlike(v.id)).then(() => true));
    if (!done) {
      v.viewer.liked = !liked;
      v.counts.likes += liked ? -1 : 1;
      this.showLike();
    }
  }

  comments(): void {
    openComments(this.video, () => {
      this.commentCount.textContent = compact(this.video.counts.comments);
    });
  }

  private async share(): Promise<void> {
    if (!this.requireSignIn()) return;
    const shared = await attempt(() => api.share(this.video.id));
    if (!shared) return;
    this.video.counts.shares += 1;
    this.shareCount.textContent = compact(this.video.counts.shares);
    toast((await copy(shared.url)) ? "Link copied" : shared.url);
  }

  private async follow(): Promise<void> {
    if (!this.requireSignIn()) return;
    const done = await attempt(() => api.follow(this.video.creator.id).then(() => true));
    if (!done) return;
    toast(`Following @${this.video.creator.username}`);
    this.onFollow(this.video.creator.id);
  }

  private showLike(): void {
    const { liked } = this.video.viewer;
    this.likeButton.replaceChildren(icon("heart"), h("span", {}, compact(this.video.counts.likes)));
    this.likeButton.classList.toggle("on", liked);
    this.likeButton.setAttribute("aria-pressed", String(liked));
  }

  private showFollowing(): void {
    const mine = session.user?.id === this.video.creator.id;
    this.followButton.hidden = mine || this.video.viewer.following;
  }

  private requireSignIn(): boolean {
    if (session.signedIn) return true;
    navigate(`/login?next=${encodeURIComponent(location.pathname)}`);
    return false;
  }
}

/** Copy to the clipboard; the older execCommand path covers plain-http origins. */
async function copy(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = h("textarea", { value: text });
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}
