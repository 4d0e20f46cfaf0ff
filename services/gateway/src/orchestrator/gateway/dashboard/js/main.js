// The dashboard: a hash router over the views, one live feed shared by all of them, and the
// connection state always visible (a banner while the gateway is away; the page stays as it was).

import { get, loadConfig } from "./api.js";
import { clear, h } from "./dom.js";
import { LiveFeed } from "./live.js";
import * as activity from "./activity.js";
import * as modelOutput from "./model_output.js";
import * as archivesView from "./views/archives.js";
import * as filesView from "./views/files.js";
import * as healthView from "./views/health.js";
import * as settingsView from "./views/settings.js";
import * as taskView from "./views/task.js";
import * as tasksView from "./views/tasks.js";
import * as usageView from "./views/usage.js";

const feed = new LiveFeed();
const root = document.getElementById("view");

const ROUTES = [
  [/^#?\/?$/, "tasks", tasksView.render],
  [/^#\/task\/([A-Za-z0-9_-]+)$/, "tasks", taskView.render],
  [/^#\/files(?:\/(.+))?$/, "files", filesView.render],
  [/^#\/archives(?:\/([A-Za-z0-9_-]+))?$/, "archives", archivesView.render],
  [/^#\/usage$/, "usage", usageView.render],
  [/^#\/settings$/, "settings", settingsView.render],
  [/^#\/health$/, "health", healthView.render],
];

let current = null;

async function route() {
  current?.cleanup?.();
  current = null;
  const hash = window.location.hash || "#/";
  const found = ROUTES.find(([re]) => re.test(hash));
  if (!found) {
    clear(root, h("p", { class: "muted" }, "Nothing here. "), h("a", { href: "#/" }, "Back to tasks"));
    return;
  }
  const [re, name, render] = found;
  for (const link of document.querySelectorAll("#nav a[data-view]")) {
    link.classList.toggle("active", link.dataset.view === name);
  }
  const params = hash.match(re).slice(1).map((p) => (p === undefined ? undefined : decodeURI(p)));
  clear(root);
  const view = h("section", { class: `page page-${name}` });
  root.append(view);
  current = (await render(view, { feed, params })) || null;
  document.title = `Orchestrator · ${name[0].toUpperCase()}${name.slice(1)}`;
}

function showConnection(state) {
  const badge = document.getElementById("connection");
  const banner = document.getElementById("banner");
  badge.dataset.state = state;
  badge.className = `badge ${state === "live" ? "badge-live" : "badge-wait"}`;
  badge.textContent = { live: "live", reconnecting: "reconnecting…", connecting: "connecting…",
    unauthorized: "token needed" }[state] || state;
  banner.hidden = state === "live" || state === "connecting";
  banner.textContent = state === "unauthorized"
    ? "The gateway refused the token."
    : "The gateway is not answering. Reconnecting… (what you see is kept; missed events follow)";
}

function showLoad(frame) {
  const mini = document.getElementById("health-mini");
  mini.textContent = `CPU ${Math.round(frame.cpu_usage)}% · mem ${Math.round(frame.memory_usage)}%`
    + ` · ${frame.active_tasks} active · ${frame.queue_length} queued`;
}

async function boot() {
  let wasLive = false;
  feed.onState((state) => {
    showConnection(state);
    if (state === "live" && wasLive) current?.refresh?.();
    if (state === "live") wasLive = true;
  });
  feed.onFrame((frame) => {
    if (frame.type === "system_health") showLoad(frame);
    activity.record(frame);
    modelOutput.record(frame);
  });
  for (;;) {
    try {
      await loadConfig();
      const health = await get("/api/health");
      showLoad({ ...health.system });
      feed.start(health.nats.projection_seq);
      break;
    } catch (error) {
      showConnection("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  window.addEventListener("hashchange", route);
  await route();
}

boot();
