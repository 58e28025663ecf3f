// Notifications (/inbox): newest first; opening the page marks them read.

import { api, type Notification } from "../api";
import { markAllRead } from "../components/live";
import { ago, h, replace } from "../dom";
import type { View } from "../router";

export function inboxPage(): View {
  const list = h("ul.notifications", {}, h("li.muted", {}, "Loading…"));
  const el = h("section.page.inbox-page", {}, h("h1", {}, "Inbox"), list);
  void load(list);
  return { el };
}

async function load(list: HTMLElement): Promise<void> {
  try {
    const page = await api.notifications();
    replace(list, ...page.items.map(item));
    if (!page.items.length) list.append(h("li.muted.center", {}, "No notifications yet."));
    await markAllRead();
  } catch (error) {
    replace(list, h("li.muted", {}, (error as Error).message));
  }
}

function item(n: Notification): HTMLElement {
  const actor = n.actors[0];
  const href = n.kind === "follow" && actor ? `/u/${actor.username}` : `/v/${n.subject_id}`;
  const initial = (actor?.display_name || actor?.username || "?")[0].toUpperCase();
  return h(
    `li.notification${n.read ? "" : ".unread"}`,
    { "data-kind": n.kind },
    h(
      "a",
      { href },
      h("span.avatar.small", {}, initial),
      h("span.text", {}, n.text),
      h("time.muted", {}, ago(n.updated_at)),
    ),
  );
}
