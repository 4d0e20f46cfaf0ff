// Settings: keys are shown masked and only ever sent when typed; per-agent provider/model/URL.

import { loadOrToast, post } from "../api.js";
import { clear, h, toast } from "../dom.js";

const AGENTS = [["claude", "analyses"], ["codex", "implements"], ["claude2", "validates"]];
const PROVIDERS = ["", "anthropic", "openai", "openai_compatible"];

function masked(status) {
  if (!status.configured) return "not set";
  return status.last_four ? `set · ends in …${status.last_four}` : "set";
}

export async function render(view) {
  const form = h("form", { class: "card settings", id: "settings-form" });
  view.append(h("h2", {}, "Settings"), form);

  const load = async () => {
    const settings = await loadOrToast("/api/settings");
    if (!settings) return;
    const keyField = (name, label) => h("label", {}, label,
      h("input", { type: "password", name, autocomplete: "off", placeholder: masked(settings[name]) }),
      h("span", { class: "muted small", dataset: { mask: name } }, masked(settings[name])));
    const agentRows = AGENTS.map(([agent, role]) => {
      const current = settings.agents[agent] || { provider: null, model: null, base_url: null, api_key: { configured: false } };
      const provider = h("select", { name: `${agent}.provider` },
        PROVIDERS.map((p) => h("option", { value: p, selected: (current.provider || "") === p }, p || "default")));
      return h("tr", { dataset: { agent } },
        h("th", {}, agent, h("div", { class: "muted small" }, role)),
        h("td", {}, provider),
        h("td", {}, h("input", { name: `${agent}.model`, value: current.model || "", placeholder: "default model" })),
        h("td", {}, h("input", { name: `${agent}.base_url`, value: current.base_url || "", placeholder: "default URL" })),
        h("td", {}, h("input", { type: "password", name: `${agent}.api_key`, autocomplete: "off",
          placeholder: masked(current.api_key) })));
    });
    clear(form,
      h("h3", {}, "Provider keys"),
      h("div", { class: "grid2" }, keyField("anthropic_api_key", "Anthropic API key"),
        keyField("openai_api_key", "OpenAI API key")),
      h("h3", {}, "Defaults"),
      h("div", { class: "grid2" },
        h("label", {}, "Default priority", h("input", { type: "number", name: "default_priority", min: 1, max: 10, value: settings.default_priority })),
        h("label", { class: "inline" }, h("input", { type: "checkbox", name: "auto_save", checked: settings.auto_save }), " Auto-save")),
      h("h3", {}, "Agents"),
      h("table", { class: "agents-table" },
        h("thead", {}, h("tr", {}, ["Agent", "Provider", "Model", "Base URL", "Own key"].map((t) => h("th", {}, t)))),
        h("tbody", {}, agentRows)),
      h("div", { class: "row" }, h("span", { class: "spacer" }), h("button", { type: "submit", class: "primary", id: "save-settings" }, "Save")));
    form.dataset.loaded = "true";
    form.onsubmit = async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const body = { default_priority: Number(data.get("default_priority")), auto_save: data.get("auto_save") === "on" };
      for (const name of ["anthropic_api_key", "openai_api_key"]) {
        if (data.get(name)) body[name] = data.get(name);
      }
      body.agents = {};
      for (const [agent] of AGENTS) {
        const before = settings.agents[agent] || {};
        const change = {};
        for (const field of ["provider", "model", "base_url"]) {
          const value = String(data.get(`${agent}.${field}`) || "");
          if (value !== (before[field] || "")) change[field] = value || null;
        }
        const key = data.get(`${agent}.api_key`);
        if (key) change.api_key = key;
        if (Object.keys(change).length) body.agents[agent] = change;
      }
      if (!Object.keys(body.agents).length) delete body.agents;
      try {
        const saved = await post("/api/settings", body);
        toast(saved.updated.length ? `Saved: ${saved.updated.join(", ")}` : "Nothing changed", "ok");
        await load();
      } catch (error) {
        toast(error.message, "error");
      }
    };
  };
  await load();
  return { refresh: load };
}
