// The comments drawer: a bottom sheet over the video, with the list and a box to write.

import { api, type Comment, type Video } from "../api";
import { ago, h, replace } from "../dom";
import { session } from "../session";
import { icon } from "./icons";
import { attempt } from "./toast";

let openDrawer: HTMLElement | null = null;

export function commentsOpen(): boolean {
  return openDrawer !== null;
}

export function closeComments(): void {
  openDrawer?.remove();
  openDrawer = null;
}

/** Open the drawer for `video`; `onPosted` hears of each new comment (to update counts). */
export function openComments(video: Video, onPosted: () => void): void {
  closeComments();
  const title = h("h2", {}, commentsTitle(video.counts.comments));
  const list = h("ul.comment-list", {}, h("li.muted", {}, "Loading…"));
  const input = h("input", {
    name: "comment",
    placeholder: session.signedIn ? "Add a comment…" : "Log in to comment",
    disabled: !session.signedIn,
    maxLength: 4000,
    autocomplete: "off",
  });
  const form = h(
    "form.comment-form",
    { onsubmit: (event: Event) => submit(event) },
    input,
    h("button.primary", { type: "submit", disabled: !session.signedIn }, "Post"),
  );
  const sheet = h(
    "div.sheet",
    { role: "dialog", "aria-label": "Comments" },
    h(
      "header",
      {},
      title,
      h("button.icon-button", { onclick: closeComments, "aria-label": "Close" }, icon("close")),
    ),
    list,
    form,
  );
  const drawer = h(
    "div.drawer",
    { onclick: (e: Event) => e.target === drawer && closeComments() },
    sheet,
  );
  document.body.append(drawer);
  openDrawer = drawer;

  void attempt(async () => {
    const page = await api.comments(video.id);
    replace(list, ...page.items.map(commentItem));
    if (!page.items.length) {
      list.append(h("li.muted.empty-comments", {}, "Be the first to comment."));
    }
  });

  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    const comment = await attempt(() => api.comment(video.id, text));
    if (!comment) return;
    input.value = "";
    list.querySelector(".empty-comments")?.remove();
    list.prepend(commentItem(comment));
    video.counts.comments += 1;
    title.textContent = commentsTitle(video.counts.comments);
    onPosted();
  }
}

function commentsTitle(n: number): string {
  return n === 1 ? "1 comment" : `${n} comments`;
}

function commentItem(comment: Comment): HTMLElement {
  const who = comment.author.display_name || comment.author.username;
  return h(
    "li.comment",
    {},
    h("a.avatar.small", { href: `/u/${comment.author.username}` }, who.slice(0, 1).toUpperCase()),
    h(
      "div",
      {},
      h("a.author", { href: `/u/${comment.author.username}` }, who),
      h("p.comment-text", {}, comment.text),
      h("time.muted", {}, ago(comment.created_at)),
    ),
  );
}
