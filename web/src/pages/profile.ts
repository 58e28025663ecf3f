// A profile (/u/<username>): name, counts, follow or log out, and the video grid.

import { api, type User, type Video } from "../api";
import { attempt } from "../components/toast";
import { videoGrid } from "../components/videoGrid";
import { compact, h, replace } from "../dom";
import { navigate, type RouteContext, type View } from "../router";
import { session } from "../session";

export function profilePage({ params }: RouteContext): View {
  const el = h("section.page.profile-page", {}, h("p.muted.center", {}, "Loading…"));
  void load(el, params.username);
  return { el };
}

async function load(el: HTMLElement, username: string): Promise<void> {
  let user: User;
  try {
    user = await api.user(username);
  } catch (error) {
    replace(el, h("div.empty", {}, h("h1", {}, "No such account"), (error as Error).message));
    return;
  }
  const mine = session.user?.id === user.id;
  if (mine) session.updateUser(user);
  const grid = h("div", {}, h("p.muted.center", {}, "Loading videos…"));
  const follow = mine ? null : followButton(user);
  if (follow && user.viewer) follow.set(user.viewer.following);
  replace(el, header(user, follow?.el ?? logoutButton()), grid);
  const videos: Video[] = [];
  let cursor: string | null = null;
  do {
    const page = await attempt(() => api.userVideos(user.id, cursor));
    if (!page) break;
    videos.push(...page.items.filter((v) => mine || v.status === "ready"));
    cursor = page.next_cursor;
  } while (cursor && videos.length < 60);
  const none = mine ? "Upload your first video." : "No videos yet.";
  replace(grid, videos.length ? videoGrid(videos) : h("p.muted.center", {}, none));
}

function header(user: User, action: HTMLElement): HTMLElement {
  const name = user.display_name || user.username;
  return h(
    "header.profile",
    {},
    h("div.avatar.large", {}, name[0].toUpperCase()),
    h("h1", {}, name),
    h("p.handle", {}, `@${user.username}`),
    h(
      "ul.counts",
      {},
      count(user.counts.following, "Following", "following"),
      count(user.counts.followers, "Followers", "followers"),
      count(user.counts.likes, "Likes", "likes"),
      count(user.counts.videos, "Videos", "videos"),
    ),
    user.bio ? h("p.bio", {}, user.bio) : null,
    action,
  );
}

function count(n: number, label: string, key: string): HTMLElement {
  return h("li", {}, h("strong", { "data-count": key }, compact(n)), h("span", {}, label));
}

function logoutButton(): HTMLElement {
  return h(
    "button.secondary.logout",
    {
      onclick: async () => {
        await api.logout().catch(() => undefined); // signed out here whatever the server says
        session.signOut();
        navigate("/login");
      },
    },
    "Log out",
  );
}

function followButton(user: User): { el: HTMLElement; set(following: boolean): void } {
  // Starts as "Follow" until the profile's viewer state says otherwise.
  let following = false;
  const button = h("button.primary.follow", {
    onclick: async () => {
      if (!session.signedIn) return navigate(`/login?next=/u/${user.username}`);
      const next = !following;
      const done = await attempt(() =>
        (next ? api.follow(user.id) : api.unfollow(user.id)).then(() => true),
      );
      if (!done) return;
      following = next;
      user.counts.followers += next ? 1 : -1;
      const followers = document.querySelector('[data-count="followers"]');
      if (followers) followers.textContent = compact(user.counts.followers);
      show();
    },
  });
  const show = (): void => {
    button.textContent = following ? "Following" : "Follow";
    button.classList.toggle("secondary", following);
  };
  show();
  return {
    el: button,
    set(value: boolean) {
      following = value;
      show();
    },
  };
}
