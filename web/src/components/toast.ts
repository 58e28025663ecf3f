// Short messages at the bottom of the screen ("Link copied").

import { h } from "../dom";

let box: HTMLElement | null = null;

export function toast(text: string, { error = false } = {}): void {
  if (!box) {
    box = h("div.toasts", { role: "status", "aria-live": "polite" });
    document.body.append(box);
  }
  const item = h(`div.toast${error ? ".error" : ""}`, {}, text);
  box.append(item);
  setTimeout(() => item.remove(), 2600);
}

/** Run `action`; show an API error as a toast instead of failing silently. */
export async function attempt<T>(action: () => Promise<T>): Promise<T | undefined> {
  try {
    return await action();
  } catch (error) {
    toast(error instanceof Error ? error.message : String(error), { error: true });
    return undefined;
  }
}
