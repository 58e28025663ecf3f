// Search (/search?q=&type=): videos, accounts and hashtags, as the query is typed.

import { api, type HashtagHit, type User, type Video } from "../api";
import { videoGrid } from "../components/videoGrid";
import { compact, h, replace } from "../dom";
import { navigate, type RouteContext, type View } from "../router";

type Kind = "videos" | "users" | "hashtags";
const KINDS: [Kind, string][] = [
  ["videos", "Videos"],
  ["users", "Accounts"],
  ["hashtags", "Hashtags"],
];
const TYPING_PAUSE_MS = 250; // search once the typing pauses, not on every key

export function searchPage({ query }: RouteContext): View {
  let kind: Kind = (KINDS.find(([k]) => k === query.get("type"))?.[0] ?? "videos") as Kind;
  let timer: number | undefined;
  let asked = 0; // answers to older queries are dropped
  const input = h("input.search-input", {
    type: "search",
    name: "q",
    placeholder: "Search videos, accounts, #hashtags",
    value: query.get("q") ?? "",
    autocomplete: "off",
    "aria-label": "Search",
  });
  const tabs = h("nav.search-tabs", { role: "tablist" });
  const results = h("div.results", { "aria-live": "polite" });
  const form = h(
    "form.search-form",
    {
      onsubmit: (e: Event) => {
        e.preventDefault();
        void run();
      },
    },
    input,
  );
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = window.setTimeout(run, TYPING_PAUSE_MS);
  });
  const el = h("section.page.search-page", {}, form, tabs, results);
  showTabs();
  void run();

  function showTabs(): void {
    replace(
      tabs,
      ...KINDS.map(([k, label]) =>
        h(
          `button.search-tab${k === kind ? ".selected" : ""}`,
          {
            type: "button",
            role: "tab",
            "aria-selected": String(k === kind),
            "data-kind": k,
            onclick: () => {
              kind = k;
              showTabs();
              void run();
            },
          },
          label,
        ),
      ),
    );
  }

  async function run(): Promise<void> {
    const q = input.value.trim();
    const url = `/search?type=${kind}${q ? `&q=${encodeURIComponent(q)}` : ""}`;
    history.replaceState(null, "", url);
    if (!q) return replace(results, h("p.muted.center", {}, "Find videos, creators and hashtags."));
    const mine = ++asked;
    replace(results, h("p.muted.center", {}, "Searching…"));
    try {
      const page = await api.search<unknown>(q, kind);
      if (mine === asked) replace(results, render(kind, page.items));
    } catch (error) {
      if (mine === asked) replace(results, h("p.muted.center", {}, (error as Error).message));
    }
  }

  return { el, destroy: () => clearTimeout(timer) };
}

function render(kind: Kind, items: unknown[]): HTMLElement {
  if (!items.length) return h("p.muted.center.no-results", {}, "No results.");
  if (kind === "videos") return videoGrid(items as Video[]);
  if (kind === "users") return h("ul.user-list", {}, ...(items as User[]).map(userRow));
  return h("ul.tag-list", {}, ...(items as HashtagHit[]).map(tagRow));
}

function userRow(user: User): HTMLElement {
  const name = user.display_name || user.username;
  return h(
    "li",
    {},
    h(
      "a.user-row",
      { href: `/u/${user.username}` },
      h("span.avatar.small", {}, name[0].toUpperCase()),
      h("span", {}, h("strong", {}, name), h("span.muted", {}, ` @${user.username}`)),
      user.counts ? h("span.muted.right", {}, `${compact(user.counts.followers)} followers`) : null,
    ),
  );
}

function tagRow(hit: HashtagHit): HTMLElement {
  const tag = hit.tag.replace(/^#/, "");
  const count = Array.isArray(hit.videos) ? hit.videos.length : hit.videos;
  return h(
    "li",
    {},
    h(
      "a.tag-row",
      {
        href: `/search?type=videos&q=%23${encodeURIComponent(tag)}`,
        onclick: (e: Event) => {
          e.preventDefault();
          e.stopPropagation();
          navigate(`/search?type=videos&q=%23${encodeURIComponent(tag)}`);
        },
      },
      h("span.hash", {}, "#"),
      h("strong", {}, tag),
      h("span.muted.right", {}, `${compact(count)} videos`),
    ),
  );
}
