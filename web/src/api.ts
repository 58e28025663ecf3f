// The Flick HTTP API (DESIGN.md section 8): typed shapes and one fetch wrapper.
// Ids are strings: 64-bit snowflakes overflow JavaScript numbers.

import { session } from "./session";

export interface Counts {
  followers: number;
  following: number;
  videos: number;
  likes: number;
}

export interface User {
  id: string;
  username: string;
  display_name: string;
  bio: string;
  created_at: number;
  counts: Counts;
  /** GET /users/{username} when signed in: whether you follow them. */
  viewer?: { following: boolean };
}

export interface Person {
  id: string;
  username: string;
  display_name: string;
}

export interface Rendition {
  name: string;
  codec: string;
  width: number;
  height: number;
  bandwidth: number;
}

export interface Video {
  id: string;
  status: "processing" | "ready" | "failed";
  progress: number;
  error: string | null;
  caption: string;
  hashtags: string[];
  creator: Person;
  created_at: number;
  duration_s: number | null;
  width: number | null;
  height: number | null;
  manifest_url: string | null;
  thumbnail_url: string | null;
  renditions: Rendition[];
  counts: { likes: number; comments: number; shares: number; views: number };
  viewer: { liked: boolean; following: boolean };
}

export interface Comment {
  id: string;
  video_id: string;
  text: string;
  author: Person;
  created_at: number;
}

export interface Notification {
  id: string;
  kind: "like" | "comment" | "follow" | "post" | string;
  subject_id: string;
  actors: Person[];
  actor_count: number;
  text: string;
  read: boolean;
  created_at: number;
  updated_at: number;
}

export interface HashtagHit {
  tag: string;
  videos: number | Video[];
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface WatchEvent {
  video_id: string;
  watched_ms: number;
  completed: boolean;
  replays?: number;
  quick_skip?: boolean;
}

/** An answer other than 2xx; `detail` is the problem+json text meant for people. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(detail);
  }
}

type Query = Record<string, string | number | null | undefined>;

export async function request<T>(
  method: string,
  path: string,
  { body, query, keepalive }: { body?: unknown; query?: Query; keepalive?: boolean } = {},
): Promise<T> {
  const headers: Record<string, string> = {};
  const token = session.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`/api/v1${path}${queryString(query)}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    keepalive,
  });
  if (response.status === 401 && token) session.signOut(); // revoked or expired
  if (!response.ok) throw new ApiError(response.status, await problemDetail(response));
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

function queryString(query: Query | undefined): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== null && value !== undefined && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

async function problemDetail(response: Response): Promise<string> {
  try {
    const problem = (await response.json()) as { detail?: unknown; title?: unknown };
    if (typeof problem.detail === "string") return problem.detail;
    if (Array.isArray(problem.detail)) return "please check what you entered";
    if (typeof problem.title === "string") return problem.title;
  } catch {
    // not JSON: fall through
  }
  return `the server answered ${response.status}`;
}

type Signed = { token: string; user: User };

export const api = {
  signup: (username: string, password: string, display_name = "") =>
    request<Signed>("POST", "/auth/signup", { body: { username, password, display_name } }),
  login: (username: string, password: string) =>
    request<Signed>("POST", "/auth/login", { body: { username, password } }),
  logout: () => request<void>("POST", "/auth/logout"),
  me: () => request<User>("GET", "/me"),
  user: (username: string) => request<User>("GET", `/users/${encodeURIComponent(username)}`),
  userVideos: (userId: string, cursor?: string | null) =>
    request<Page<Video>>("GET", `/users/${userId}/videos`, { query: { cursor } }),
  follow: (userId: string) => request<void>("POST", `/users/${userId}/follow`),
  unfollow: (userId: string) => request<void>("DELETE", `/users/${userId}/follow`),

  feed: (tab: "foryou" | "following", cursor?: string | null) =>
    request<Page<Video>>("GET", `/feed/${tab}`, { query: { cursor, limit: 10 } }),
  video: (id: string) => request<Video>("GET", `/videos/${id}`),
  publish: (upload_id: string, caption: string) =>
    request<Video>("POST", "/videos", { body: { upload_id, caption } }),

  like: (id: string) => request<void>("POST", `/videos/${id}/like`),
  unlike: (id: string) => request<void>("DELETE", `/videos/${id}/like`),
  comments: (id: string, cursor?: string | null) =>
    request<Page<Comment>>("GET", `/videos/${id}/comments`, { query: { cursor } }),
  comment: (id: string, text: string) =>
    request<Comment>("POST", `/videos/${id}/comments`, { body: { text } }),
  share: (id: string) => request<{ url: string }>("POST", `/videos/${id}/share`),
  watched: (events: WatchEvent[]) =>
    request<unknown>("POST", "/events/watch", { body: { events }, keepalive: true }),

  search: <T>(q: string, type: "videos" | "users" | "hashtags", cursor?: string | null) =>
    request<Page<T>>("GET", "/search", { query: { q, type, cursor } }),

  notifications: (cursor?: string | null) =>
    request<Page<Notification>>("GET", "/notifications", { query: { cursor } }),
  unread: () => request<{ count: number }>("GET", "/notifications/unread"),
  markRead: () => request<void>("POST", "/notifications/read"),
};
