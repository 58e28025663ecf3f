// History routing: real paths (/u/ana, /v/123) so links can be shared; the server answers
// index.html for every app path (src/flick/gateway/webapp.py).

export interface View {
  el: HTMLElement;
  /** Stop players, sockets and listeners when the view is left. */
  destroy?(): void;
}

export interface RouteContext {
  params: Record<string, string>;
  query: URLSearchParams;
}

type Render = (ctx: RouteContext) => View;
interface Route {
  pattern: RegExp;
  names: string[];
  render: Render;
  auth: boolean;
}

const routes: Route[] = [];
let current: View | null = null;
let outlet: HTMLElement;
let guard: (path: string) => string | null = () => null;
let afterRender: (path: string) => void = () => {};

/** Register `path` ("/u/:username"); `auth` views send signed-out visitors to /login. */
export function route(path: string, render: Render, { auth = false } = {}): void {
  const names: string[] = [];
  const source = path.replace(/:(\w+)/g, (_, name: string) => {
    names.push(name);
    return "([^/]+)";
  });
  routes.push({ pattern: new RegExp(`^${source}/?$`), names, render, auth });
}

export function navigate(to: string, { replace = false } = {}): void {
  if (replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  render();
}

export function startRouter(
  el: HTMLElement,
  options: { needsSignIn: (path: string) => string | null; onRender: (path: string) => void },
): void {
  outlet = el;
  guard = options.needsSignIn;
  afterRender = options.onRender;
  window.addEventListener("popstate", render);
  // Same-origin links navigate in place; new tabs and other sites behave as usual.
  document.addEventListener("click", (event) => {
    const link = (event.target as Element).closest("a");
    if (!link || link.target || event.metaKey || event.ctrlKey || event.shiftKey) return;
    const url = new URL(link.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
  render();
}

function render(): void {
  const path = location.pathname;
  const match = find(path);
  if (match?.route.auth) {
    const redirect = guard(path + location.search);
    if (redirect) return navigate(redirect, { replace: true });
  }
  current?.destroy?.();
  const ctx = { params: match?.params ?? {}, query: new URLSearchParams(location.search) };
  current = match ? match.route.render(ctx) : notFound();
  outlet.replaceChildren(current.el);
  window.scrollTo(0, 0);
  afterRender(path);
}

function find(path: string): { route: Route; params: Record<string, string> } | null {
  for (const r of routes) {
    const m = r.pattern.exec(path);
    if (!m) continue;
    const params: Record<string, string> = {};
    r.names.forEach((name, i) => (params[name] = decodeURIComponent(m[i + 1])));
    return { route: r, params };
  }
  return null;
}

function notFound(): View {
  const el = document.createElement("section");
  el.className = "page empty";
  el.innerHTML = `<h1>Nothing here</h1><p><a href="/">Back to the feed</a></p>`;
  return { el };
}
