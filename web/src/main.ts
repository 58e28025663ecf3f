// Flick's web app: the shell (views above a tab bar), the routes and the live badge.

import "./styles.css";
import { startLive } from "./components/live";
import { navBar } from "./components/nav";
import { h } from "./dom";
import { loginPage, signupPage } from "./pages/auth";
import { feedPage } from "./pages/feed";
import { inboxPage } from "./pages/inbox";
import { profilePage } from "./pages/profile";
import { searchPage } from "./pages/search";
import { uploadPage } from "./pages/upload";
import { videoPage } from "./pages/video";
import { route, startRouter } from "./router";
import { session } from "./session";

route("/", () => feedPage("foryou"), { auth: true });
route("/following", () => feedPage("following"), { auth: true });
route("/v/:id", videoPage);
route("/u/:username", profilePage);
route("/upload", uploadPage, { auth: true });
route("/search", searchPage, { auth: true });
route("/inbox", inboxPage, { auth: true });
route("/login", loginPage);
route("/signup", signupPage);

const outlet = h("main.view");
const nav = navBar();
document.getElementById("app")!.append(outlet, nav.el);

session.onChange(() => {
  nav.update(location.pathname);
  startLive(); // connects for the new account, or disconnects on log out
});
startRouter(outlet, {
  needsSignIn: (path) => (session.signedIn ? null : `/login?next=${encodeURIComponent(path)}`),
  onRender: (path) => {
    nav.update(path);
    document.body.dataset.route = path.split("/")[1] || "home";
  },
});
startLive();
