// Sign up (/signup) and log in (/login). Both keep the token and go where you were headed.

import { api } from "../api";
import { h } from "../dom";
import { navigate, type RouteContext, type View } from "../router";
import { session } from "../session";

export function loginPage(ctx: RouteContext): View {
  return authPage(ctx, "login");
}

export function signupPage(ctx: RouteContext): View {
  return authPage(ctx, "signup");
}

function authPage({ query }: RouteContext, mode: "login" | "signup"): View {
  const signup = mode === "signup";
  const next = safeNext(query.get("next"));
  const username = h("input", {
    name: "username",
    autocomplete: "username",
    required: true,
    maxLength: 64,
    placeholder: "Username",
  });
  const displayName = h("input", {
    name: "display_name",
    autocomplete: "name",
    maxLength: 200,
    placeholder: "Display name (optional)",
  });
  const password = h("input", {
    name: "password",
    type: "password",
    autocomplete: signup ? "new-password" : "current-password",
    required: true,
    placeholder: "Password",
  });
  const error = h("p.form-error", { role: "alert" });
  const button = h("button.primary", { type: "submit" }, signup ? "Sign up" : "Log in");
  const other = signup
    ? h("p", {}, "Have an account? ", h("a", { href: withNext("/login", next) }, "Log in"))
    : h("p", {}, "New to Flick? ", h("a", { href: withNext("/signup", next) }, "Sign up"));

  const form = h(
    `form.auth-form.${mode}`,
    { onsubmit: (event: Event) => submit(event) },
    h("div.logo", {}, "Flick"),
    h("h1", {}, signup ? "Create your account" : "Log in to Flick"),
    username,
    signup ? displayName : null,
    password,
    error,
    button,
    other,
  );

  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    button.disabled = true;
    error.textContent = "";
    try {
      const { token, user } = signup
        ? await api.signup(username.value.trim(), password.value, displayName.value.trim())
        : await api.login(username.value.trim(), password.value);
      session.signIn(token, user);
      navigate(next, { replace: true });
    } catch (e) {
      error.textContent = (e as Error).message;
      button.disabled = false;
    }
  }

  if (session.signedIn && !query.has("next")) {
    queueMicrotask(() => navigate("/", { replace: true }));
  }
  return { el: h("section.page.auth-page", {}, form) };
}

/** Only paths of this app: never an open redirect to another site. */
function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

function withNext(path: string, next: string): string {
  return next === "/" ? path : `${path}?next=${encodeURIComponent(next)}`;
}
