// Usage: what the model calls consumed (GET /api/usage), overall and by agent, provider, model
// and day; re-read when a task_update frame says a task spent more.

import { loadOrToast } from "../api.js";
import { clear, cost, debounce, h } from "../dom.js";

const COLUMNS = ["Calls", "Input tokens", "Output tokens", "Tokens", "Cost", "Unpriced calls"];
const GROUPS = [["by_agent", "By agent", "Agent"], ["by_provider", "By provider", "Provider"], ["by_model", "By model", "Model"]];

// The numbers are on data attributes as the API gave them, so what is shown can be checked.
function cells(totals) {
  return [
    h("td", { class: "num", dataset: { field: "calls" } }, String(totals.calls)),
    h("td", { class: "num", dataset: { field: "input_tokens" } }, String(totals.input_tokens)),
    h("td", { class: "num", dataset: { field: "output_tokens" } }, String(totals.output_tokens)),
    h("td", { class: "num", dataset: { field: "tokens" } }, String(totals.tokens)),
    h("td", { class: "num", dataset: { field: "cost_usd", value: totals.cost_usd === null ? "null" : String(totals.cost_usd) } },
      cost(totals.cost_usd)),
    h("td", { class: "num", dataset: { field: "unpriced_calls" } }, String(totals.unpriced_calls)),
  ];
}

function table(id, label, rows) {
  return h("table", { class: "usage-table", id },
    h("thead", {}, h("tr", {}, [label, ...COLUMNS].map((title) => h("th", {}, title)))),
    h("tbody", {}, rows.map(([name, totals]) => h("tr", { dataset: { key: name } }, h("th", {}, name), cells(totals)))));
}

export async function render(view, { feed }) {
  const body = h("div", { class: "usage", id: "usage" });
  view.append(h("h2", {}, "Usage"),
    h("p", { class: "muted small" }, "Tokens and cost of every model call, as the providers reported them. "
      + "A cost is unknown where a model has no price (set one in settings)."), body);

  const load = async () => {
    const usage = await loadOrToast("/api/usage");
    if (!usage) return;
    clear(body,
      h("div", { class: "card" }, h("h3", {}, "Total"), table("usage-total", "", [["total", usage.total]])),
      GROUPS.map(([key, title, label]) => h("div", { class: "card" }, h("h3", {}, title),
        Object.keys(usage[key]).length ? table(`usage-${key}`, label, Object.entries(usage[key]))
          : h("p", { class: "muted" }, "No model calls yet."))),
      h("div", { class: "card" }, h("h3", {}, "By day (UTC)"),
        usage.days.length ? table("usage-days", "Day", usage.days.map((d) => [d.day, d.total]))
          : h("p", { class: "muted" }, "No model calls yet.")));
    body.dataset.loaded = "true";
  };
  const reload = debounce(load, 250);
  const off = feed.onFrame((frame) => {
    if (frame.type === "task_update" && "tokens" in frame) reload();
  });
  await load();
  return { cleanup: off, refresh: load };
}
