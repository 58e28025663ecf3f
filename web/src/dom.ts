// A tiny element builder: h("button.like", { onclick }, "♥") instead of a framework.

type Child = Node | string | number | null | undefined | false;
type Props = Record<string, unknown>;

/** Make an element from "tag.class1.class2#id", properties (on* become listeners,
 * data-* and aria-* become attributes) and children (falsy ones are skipped). */
export function h<K extends keyof HTMLElementTagNameMap>(
  spec: K | `${K}${"." | "#"}${string}`,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const [head, id] = spec.split("#");
  const [tag, ...classes] = head.split(".");
  const el = document.createElement(tag) as HTMLElementTagNameMap[K];
  if (classes.length) el.className = classes.join(" ");
  if (id) el.id = id;
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value as EventListener);
    } else if (key.startsWith("data-") || key.startsWith("aria-") || key === "role") {
      el.setAttribute(key, String(value));
    } else {
      (el as unknown as Props)[key] = value;
    }
  }
  append(el, ...children);
  return el;
}

export function append(parent: Element, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : String(child));
  }
}

/** Replace everything inside `parent`. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

/** 1234 -> "1.2K", as counts are shown on phones. */
export function compact(n: number): string {
  return new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 }).format(n);
}

/** "3m", "2h", "5d" ago. */
export function ago(unixSeconds: number): string {
  const s = Math.max(0, Date.now() / 1000 - unixSeconds);
  if (s < 60) return "now";
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** A caption with its #hashtags as links to the hashtag search. */
export function captionNodes(caption: string): Child[] {
  return caption.split(/(#[\p{L}\p{N}_]+)/u).map((part) =>
    part.startsWith("#")
      ? h("a.tag", { href: `/search?type=videos&q=${encodeURIComponent(part)}` }, part)
      : part,
  );
}
