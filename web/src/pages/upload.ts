// Upload (/upload): pick a video, write a caption, and send it over tus (resumable, in
// chunks). Pause and resume; after a reload the page remembers the unfinished upload, and
// choosing the same file again continues where it stopped. Then the video is published and
// the page follows its processing until it is ready.

import * as tus from "tus-js-client";
import { api, type Video } from "../api";
import { attempt, toast } from "../components/toast";
import { h, replace } from "../dom";
import type { View } from "../router";
import { session } from "../session";

// Every chunk is a checkpoint a dropped mobile connection resumes from. localStorage's
// "flick.uploadChunkBytes" overrides it (the browser tests use small chunks).
const DEFAULT_CHUNK_BYTES = 2 << 20;
const PENDING_KEY = "flick.pendingUpload"; // {filename, size, caption, percent} while uploading
const PROCESSING_KEY = "flick.processingVideo"; // a published video id until it is ready
const POLL_MS = 1000;
const MAX_HASHTAGS_SHOWN = 10;

interface Pending {
  filename: string;
  size: number;
  caption: string;
  percent: number;
}

export function uploadPage(): View {
  let upload: tus.Upload | null = null;
  let stopped = false;
  let pollTimer: number | undefined;

  const pending = readPending();
  const fileInput = h("input#file", { type: "file", accept: "video/*", name: "file" });
  const fileName = h("span.file-name", {}, "Choose a video");
  const caption = h("textarea#caption", {
    name: "caption",
    placeholder: "Describe your video… #hashtags welcome",
    maxLength: 4000,
    rows: 3,
    value: pending?.caption ?? "",
  });
  const tags = h("div.tag-preview");
  const postButton = h("button.primary.post", { type: "submit", disabled: true }, "Post");
  const bar = h("progress.bar", { max: 100, value: 0 });
  const status = h("p.upload-status", { role: "status" });
  const pauseButton = h("button.secondary.pause", { type: "button", hidden: true }, "Pause");
  const progressBox = h("div.progress-box", { hidden: true }, status, bar, pauseButton);
  const banner = pending
    ? h(
        "p.banner.resume-banner",
        {},
        `Unfinished upload: ${pending.filename} (${pending.percent}%). `,
        "Choose the same file to continue where it stopped.",
      )
    : null;

  const form = h(
    "form.upload-form",
    { onsubmit: (event: Event) => submit(event) },
    banner,
    h("label.picker", { htmlFor: "file" }, h("span.picker-plus", {}, "+"), fileName, fileInput),
    h("label.field-label", { htmlFor: "caption" }, "Caption"),
    caption,
    tags,
    postButton,
    progressBox,
  );
  const el = h("section.page.upload-page", {}, h("h1", {}, "Upload"), form);

  fileInput.addEventListener("change", () => {
    const file = fileInput.files?.[0];
    fileName.textContent = file ? `${file.name} · ${megabytes(file.size)}` : "Choose a video";
    postButton.disabled = !file;
  });
  caption.addEventListener("input", () => showTags());
  pauseButton.addEventListener("click", () => togglePause());
  showTags();
  const processing = localStorage.getItem(PROCESSING_KEY);
  if (processing) follow(processing);

  function showTags(): void {
    const found = [...caption.value.matchAll(/#([\p{L}\p{N}_]+)/gu)].map((m) => m[1]);
    replace(tags, ...found.slice(0, MAX_HASHTAGS_SHOWN).map((t) => h("span.chip", {}, `#${t}`)));
  }

  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    const file = fileInput.files?.[0];
    if (!file) return;
    postButton.disabled = true;
    fileInput.disabled = true;
    progressBox.hidden = false;
    pauseButton.hidden = false;
    upload = newUpload(file, caption.value.trim());
    const previous = await upload.findPreviousUploads();
    if (previous.length) {
      upload.resumeFromPreviousUpload(previous[0]);
      status.textContent = "Resuming…";
    } else {
      status.textContent = "Uploading 0%";
    }
    upload.start();
  }

  function newUpload(file: File, text: string): tus.Upload {
    const userId = session.user?.id ?? "anonymous";
    return new tus.Upload(file, {
      endpoint: new URL("/api/v1/uploads", location.href).href,
      chunkSize: Number(localStorage.getItem("flick.uploadChunkBytes")) || DEFAULT_CHUNK_BYTES,
      retryDelays: [0, 1000, 3000, 5000, 10000],
      headers: { Authorization: `Bearer ${session.token ?? ""}` },
      metadata: { filename: file.name, filetype: file.type, caption: text },
      // One account's uploads only: another user on this browser must not resume them.
      fingerprint: async (f: File) =>
        ["flick", userId, f.name, f.size, f.lastModified].join("-"),
      removeFingerprintOnSuccess: true,
      onProgress(sent, total) {
        const percent = Math.floor((sent / total) * 100);
        bar.value = percent;
        status.textContent = `Uploading ${percent}%`;
        savePending({ filename: file.name, size: file.size, caption: text, percent });
      },
      onError(error) {
        status.textContent = `Upload stopped: ${error.message}. Press Resume to try again.`;
        pauseButton.textContent = "Resume";
        stopped = true;
      },
      onSuccess() {
        pauseButton.hidden = true;
        void publish(text);
      },
    });
  }

  function togglePause(): void {
    if (!upload) return;
    if (stopped) {
      stopped = false;
      pauseButton.textContent = "Pause";
      status.textContent = "Resuming…";
      upload.start();
    } else {
      stopped = true;
      void upload.abort(); // keeps the upload on the server: it can be resumed
      pauseButton.textContent = "Resume";
      status.textContent = `Paused at ${bar.value}%`;
    }
  }

  async function publish(text: string): Promise<void> {
    const uploadId = upload?.url?.split("/").pop();
    if (!uploadId) return;
    localStorage.removeItem(PENDING_KEY);
    banner?.remove();
    status.textContent = "Publishing…";
    const video = await attempt(() => api.publish(uploadId, text));
    if (!video) return;
    localStorage.setItem(PROCESSING_KEY, video.id);
    follow(video.id);
  }

  function follow(videoId: string): void {
    progressBox.hidden = false;
    pauseButton.hidden = true;
    const poll = async (): Promise<void> => {
      const video = await api.video(videoId).catch(() => null);
      if (!video) return localStorage.removeItem(PROCESSING_KEY);
      if (showProcessing(video)) pollTimer = window.setTimeout(poll, POLL_MS);
    };
    void poll();
  }

  /** Show the video's state; true while it is still processing. */
  function showProcessing(video: Video): boolean {
    bar.value = Math.round(video.progress);
    if (video.status === "processing") {
      status.textContent = `Processing ${Math.round(video.progress)}%`;
      return true;
    }
    localStorage.removeItem(PROCESSING_KEY);
    if (video.status === "failed") {
      status.textContent = `Processing failed: ${video.error ?? "unknown error"}`;
      return false;
    }
    bar.value = 100;
    replace(
      status,
      "Your video is ready. ",
      h("a.watch-link", { href: `/v/${video.id}` }, "Watch it"),
    );
    toast("Your video is ready");
    resetForm();
    return false;
  }

  function resetForm(): void {
    fileInput.value = "";
    fileInput.disabled = false;
    fileName.textContent = "Choose a video";
    caption.value = "";
    showTags();
  }

  return {
    el,
    destroy() {
      clearTimeout(pollTimer);
      if (upload && !stopped) void upload.abort(); // resumable from this page later
    },
  };
}

function readPending(): Pending | null {
  const raw = localStorage.getItem(PENDING_KEY);
  return raw ? (JSON.parse(raw) as Pending) : null;
}

function savePending(pending: Pending): void {
  localStorage.setItem(PENDING_KEY, JSON.stringify(pending));
}

function megabytes(bytes: number): string {
  return `${(bytes / (1 << 20)).toFixed(1)} MB`;
}
