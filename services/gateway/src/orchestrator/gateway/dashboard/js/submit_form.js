// The submit form: a requirement, its priority, the gates it stops at for approval and its
// budget; a created task opens its page.

import { post } from "./api.js";
import { h, shortId, toast } from "./dom.js";

// The form's approval choice as POST /api/requirements takes it; "" leaves it to the settings.
const APPROVALS = [
  ["", "as in settings"],
  ["none", "none"],
  ["plan", "the plan"],
  ["changes", "the changes"],
  ["both", "plan and changes"],
];

function approvalOf(choice) {
  if (choice === "") return undefined;
  return choice === "both" ? ["plan", "changes"] : choice;
}

// Only what was filled in: an empty budget is no budget, not a budget of nothing.
function budgetOf(maxCost, maxTokens) {
  const budget = {};
  if (maxCost.value.trim() !== "") budget.max_cost_usd = Number(maxCost.value);
  if (maxTokens.value.trim() !== "") budget.max_tokens = Number(maxTokens.value);
  return Object.keys(budget).length ? budget : undefined;
}

export function submitForm() {
  const requirement = h("textarea", {
    id: "requirement", name: "requirement", rows: 3, required: true, maxlength: 20000,
    placeholder: "I want a FastAPI server that serves Hello World",
  });
  const priority = h("input", { id: "priority", name: "priority", type: "number", min: 1, max: 10, value: 5 });
  const approval = h("select", { id: "approval", name: "approval" },
    APPROVALS.map(([value, label]) => h("option", { value }, label)));
  const maxCost = h("input", {
    id: "budget-cost", name: "max_cost_usd", type: "number", min: 0, step: "any", placeholder: "no limit",
  });
  const maxTokens = h("input", {
    id: "budget-tokens", name: "max_tokens", type: "number", min: 1, step: 1, placeholder: "no limit",
  });
  const submit = h("button", { type: "submit", class: "primary", id: "submit" }, "Submit requirement");
  const form = h("form", { class: "card submit-form", id: "submit-form" },
    h("h2", {}, "New requirement"),
    h("label", { for: "requirement" }, "What should be built?"), requirement,
    h("div", { class: "row" },
      h("label", { class: "inline" }, "Priority ", priority),
      h("span", { class: "muted" }, "1 (low) – 10 (urgent)")),
    h("div", { class: "row" },
      h("label", { class: "inline", title: "Stop for your approval before going on" }, "Approve ", approval),
      h("label", { class: "inline" }, "Max cost $ ", maxCost),
      h("label", { class: "inline" }, "Max tokens ", maxTokens),
      h("span", { class: "spacer" }), submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      const created = await post("/api/requirements", {
        requirement: requirement.value,
        priority: Number(priority.value) || 5,
        budget: budgetOf(maxCost, maxTokens),
        approval: approvalOf(approval.value),
      });
      toast(`Task ${shortId(created.task_id)} created`, "ok");
      requirement.value = "";
      maxCost.value = "";
      maxTokens.value = "";
      window.location.hash = `#/task/${created.task_id}`;
    } catch (error) {
      toast(error.message, "error");
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
