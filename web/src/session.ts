// The signed-in user: the bearer token lives in localStorage, so a reload keeps you in.

import type { User } from "./api";

const TOKEN_KEY = "flick.token";
const USER_KEY = "flick.user";

type Listener = () => void;
const listeners = new Set<Listener>();

export const session = {
  get token(): string | null {
    return localStorage.getItem(TOKEN_KEY);
  },

  get user(): User | null {
    const raw = localStorage.getItem(USER_KEY);
    return raw ? (JSON.parse(raw) as User) : null;
  },

  get signedIn(): boolean {
    return this.token !== null;
  },

  signIn(token: string, user: User): void {
    localStorage.setItem(TOKEN_KEY, token);
    localStorage.setItem(USER_KEY, JSON.stringify(user));
    listeners.forEach((fn) => fn());
  },

  updateUser(user: User): void {
    localStorage.setItem(USER_KEY, JSON.stringify(user));
  },

  signOut(): void {
    localStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(USER_KEY);
    listeners.forEach((fn) => fn());
  },

  /** Called on sign-in and sign-out. */
  onChange(fn: Listener): void {
    listeners.add(fn);
  },
};
