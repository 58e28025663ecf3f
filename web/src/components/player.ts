// One HLS video: hls.js light (adaptive bitrate over MSE; Flick's HLS needs none of the
// full build's subtitles, DRM or alternate audio) where the browser has MediaSource,
// the browser's own HLS where it plays it natively (Safari, iOS). Tracks time watched for
// the watch event sent when the video leaves the screen.

import type HlsType from "hls.js";
import type { WatchEvent } from "../api";
import { sound } from "./sound";

let hlsModule: Promise<typeof HlsType> | null = null;

/** hls.js is loaded on first playback, so sign-in and upload pages stay small. */
function loadHls(): Promise<typeof HlsType> {
  hlsModule ??= import("hls.js/light").then((m) => m.default);
  return hlsModule;
}

const MAX_TICK_S = 1.5; // a longer jump between timeupdates is a seek, not watching
const QUICK_SKIP_MS = 2000; // swiped away within this: a signal of disinterest

export class Player {
  readonly video: HTMLVideoElement;
  private hls: HlsType | null = null;
  private loaded = false;
  private lastTime = 0;
  private watchedMs = 0;
  private replays = 0;
  private completed = false;
  private unsubscribe: () => void;

  constructor(
    private readonly manifestUrl: string,
    poster: string | null,
  ) {
    const video = (this.video = document.createElement("video"));
    video.playsInline = true;
    video.loop = true;
    video.muted = sound.muted;
    video.preload = "none";
    if (poster) video.poster = poster;
    video.addEventListener("timeupdate", () => this.tick());
    this.unsubscribe = sound.subscribe((muted) => (video.muted = muted));
  }

  /** Fetch the manifest and start buffering (the next video is preloaded this way). */
  async load(): Promise<void> {
    if (this.loaded) return;
    this.loaded = true;
    const video = this.video;
    video.preload = "auto";
    const Hls = await loadHls();
    if (!this.loaded) return; // unloaded meanwhile
    if (Hls.isSupported()) {
      const hls = (this.hls = new Hls({ capLevelToPlayerSize: true, maxBufferLength: 10 }));
      video.dataset.engine = "hls.js";
      hls.on(Hls.Events.LEVEL_SWITCHED, (_event, data) => {
        const level = hls.levels[data.level];
        if (level) video.dataset.level = `${level.height}p`;
      });
      hls.loadSource(this.manifestUrl);
      hls.attachMedia(video);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.dataset.engine = "native";
      video.src = this.manifestUrl;
    } else {
      video.dataset.engine = "none";
    }
  }

  async play(): Promise<void> {
    await this.load();
    try {
      await this.video.play();
    } catch {
      // Autoplay with sound was refused: play muted, the sound button stays available.
      if (!this.video.muted) {
        sound.set(true);
        await this.video.play().catch(() => undefined);
      }
    }
  }

  pause(): void {
    this.video.pause();
  }

  get paused(): boolean {
    return this.video.paused;
  }

  /** Free the decoder and buffers of a video far from the screen. */
  unload(): void {
    if (!this.loaded) return;
    this.loaded = false;
    this.hls?.destroy();
    this.hls = null;
    this.video.removeAttribute("src");
    this.video.load();
  }

  destroy(): void {
    this.unload();
    this.unsubscribe();
  }

  /** The watch since the last call, or null if nothing was watched; resets the tally. */
  takeWatch(videoId: string): WatchEvent | null {
    if (this.watchedMs < 1) return null;
    const event: WatchEvent = {
      video_id: videoId,
      watched_ms: Math.round(this.watchedMs),
      completed: this.completed,
      replays: this.replays,
      quick_skip: !this.completed && this.watchedMs < QUICK_SKIP_MS,
    };
    this.watchedMs = 0;
    this.replays = 0;
    this.completed = false;
    return event;
  }

  private tick(): void {
    const now = this.video.currentTime;
    const delta = now - this.lastTime;
    if (delta > 0 && delta < MAX_TICK_S) this.watchedMs += delta * 1000;
    else if (delta < 0 && this.lastTime > this.video.duration - MAX_TICK_S) {
      // looped: the end was reached
      this.completed = true;
      this.replays += 1;
    }
    this.lastTime = now;
  }
}
