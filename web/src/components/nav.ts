// The bottom tab bar: Home, Search, Upload, Inbox (with the unread badge) and Profile.

import { h } from "../dom";
import { session } from "../session";
import { icon, type IconName } from "./icons";
import { onUnread } from "./live";

export function navBar(): { el: HTMLElement; update(path: string): void } {
  const badge = h("span.badge", { hidden: true, "aria-label": "unread notifications" });
  onUnread((n) => {
    badge.hidden = n === 0;
    badge.textContent = n > 99 ? "99+" : String(n);
  });
  const links = {
    home: tab("/", "home", "Home"),
    search: tab("/search", "search", "Search"),
    upload: h("a.tab.upload-tab", { href: "/upload", "aria-label": "Upload" }, icon("plus")),
    inbox: tab("/inbox", "inbox", "Inbox", badge),
    me: tab("/login", "person", "Profile"),
  };
  const el = h("nav.tabbar", { "aria-label": "Main" }, ...Object.values(links));
  return {
    el,
    update(path: string) {
      const me = session.user;
      links.me.setAttribute("href", me ? `/u/${me.username}` : "/login");
      const section =
        path === "/" || path === "/following" || path.startsWith("/v/")
          ? links.home
          : path.startsWith("/search")
            ? links.search
            : path.startsWith("/upload")
              ? links.upload
              : path.startsWith("/inbox")
                ? links.inbox
                : links.me;
      for (const link of Object.values(links)) link.classList.toggle("current", link === section);
      el.classList.toggle("on-video", links.home === section);
    },
  };
}

function tab(href: string, name: IconName, label: string, extra?: HTMLElement): HTMLElement {
  return h(
    `a.tab.tab-${name}`,
    { href },
    h("span.tab-icon", {}, icon(name), extra),
    h("span.tab-label", {}, label),
  );
}
