// System health: every service, NATS, the sandbox; the load live from system_health frames.

import { loadOrToast } from "../api.js";
import { clear, h } from "../dom.js";

function detailText(details) {
  const text = JSON.stringify(details || {}, null, 1);
  return text === "{}" ? "" : text.length > 400 ? `${text.slice(0, 400)}…` : text;
}

export async function render(view, { feed }) {
  const summary = h("div", { class: "card", id: "health-summary" });
  const load = h("div", { class: "card load", id: "health-load" });
  const services = h("div", { class: "card", id: "health-services" });
  view.append(h("h2", {}, "System health"), summary, load, services);

  const showLoad = (frame) => clear(load, h("h3", {}, "Load (live)"),
    h("div", { class: "gauges" },
      ["cpu_usage", "memory_usage"].map((key) => h("div", { class: "gauge" },
        h("span", { class: "muted" }, key === "cpu_usage" ? "CPU" : "Memory"),
        h("progress", { max: 100, value: frame[key] }), h("strong", { dataset: { metric: key } }, `${frame[key]}%`))),
      h("div", { class: "gauge" }, h("span", { class: "muted" }, "Active tasks"), h("strong", {}, String(frame.active_tasks))),
      h("div", { class: "gauge" }, h("span", { class: "muted" }, "Queued"), h("strong", {}, String(frame.queue_length)))));

  const refresh = async () => {
    const health = await loadOrToast("/api/health");
    if (!health) return;
    clear(summary, h("div", { class: "row" },
      h("h3", { class: "grow" }, "Overall"),
      h("span", { class: `badge ${health.status === "ok" ? "badge-live" : "badge-wait"}`, id: "health-status" }, health.status)),
      h("p", { class: "meta" }, `NATS ${health.nats.status} · JetStream ${health.nats.jetstream}`
        + ` · ${health.nats.server || ""} · event ${health.nats.projection_seq} · ${health.archives} archive(s)`
        + ` · token ${health.security.token_required ? "required" : "not required"}`));
    showLoad(health.system);
    clear(services, h("h3", {}, "Services"), h("table", { class: "services" },
      h("thead", {}, h("tr", {}, ["Service", "Status", "Instances", "Details"].map((t) => h("th", {}, t)))),
      h("tbody", {}, Object.entries(health.services).map(([name, s]) => h("tr", { dataset: { service: name } },
        h("th", {}, name),
        h("td", {}, h("span", { class: `badge ${s.status === "up" ? "badge-live" : "badge-wait"}` }, s.status)),
        h("td", { class: "num" }, String(s.instances)),
        h("td", {}, h("pre", { class: "details" }, detailText(s.details))))))),
      Object.keys(health.sandbox || {}).length ? h("div", {}, h("h3", {}, "Sandbox"), h("pre", { class: "details" }, JSON.stringify(health.sandbox, null, 1))) : null);
  };
  const off = feed.onFrame((frame) => {
    if (frame.type === "system_health") showLoad(frame);
  });
  const timer = setInterval(refresh, 5000);
  await refresh();
  return { cleanup: () => { off(); clearInterval(timer); }, refresh };
}
