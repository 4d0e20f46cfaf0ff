// Home: submit a requirement (with a budget and approval gates if wanted); every task, live,
// those waiting for a person marked; the activity log.

import * as activity from "../activity.js";
import { ApiError, get, post } from "../api.js";
import { clear, debounce, h, shortId, statusBadge, toast, when } from "../dom.js";
import { applySpend, spendCells } from "../spend.js";

// The form's approval choice as POST /api/requirements takes it; "" leaves it to the settings.
const APPROVALS = [
  ["", "as in settings"],
  ["none", "none"],
  ["plan", "the plan"],
  ["changes", "the changes"],
  ["both", "plan and changes"],
];

// A frame's gate (task.gate) is newer than the API's approval it may have been merged into.
function gateOf(task) {
  return task.gate || task.approval?.gate || null;
}

function taskRow(task) {
  const waiting = task.status === "awaiting_approval";
  const spend = spendCells(task);
  return h("tr", { class: `task-row${waiting ? " waiting" : ""}`, dataset: { taskId: task.id, status: task.status } },
    h("td", {}, h("a", { href: `#/task/${task.id}`, class: "mono" }, shortId(task.id)),
      task.follows ? h("span", { class: "pill", title: `follows ${task.follows}` }, "follow-up") : null),
    h("td", { class: "requirement" }, task.requirement),
    h("td", { class: "cell-status" }, statusBadge(task.status),
      waiting && gateOf(task) ? h("span", { class: "gate-pill", dataset: { gate: gateOf(task) } }, gateOf(task)) : null),
    h("td", { class: "cell-stage" }, task.stage || "–"),
    h("td", { class: "cell-progress" },
      h("progress", { max: 100, value: task.progress || 0 }), ` ${task.progress || 0}%`),
    h("td", { class: "cell-cost num" }, spend.cost),
    h("td", { class: "cell-tokens num" }, spend.tokens),
    h("td", { class: "muted" }, when(task.created_at)));
}

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

export async function render(view, { feed }) {
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
  const tbody = h("tbody", { id: "task-rows" });
  const empty = h("p", { class: "muted", id: "no-tasks" }, "No tasks yet: submit a requirement above.");
  const table = h("table", { class: "tasks" },
    h("thead", {}, h("tr", {}, ...["Task", "Requirement", "Status", "Stage", "Progress", "Cost", "Tokens", "Created"]
      .map((title) => h("th", {}, title)))), tbody);
  const log = h("ol", { class: "activity", id: "activity" });
  view.append(
    form,
    h("div", { class: "card" }, h("h2", {}, "Tasks"), empty, table),
    h("div", { class: "card" }, h("h2", {}, "Live activity"),
      h("p", { class: "muted small" }, "Every event as it happens, numbered by the event store."), log),
  );

  let tasks = new Map();
  const draw = () => {
    const sorted = [...tasks.values()].sort((a, b) => (b.created_at || "").localeCompare(a.created_at || ""));
    clear(tbody, sorted.map(taskRow));
    empty.hidden = sorted.length > 0;
    table.hidden = sorted.length === 0;
  };
  const load = async () => {
    try {
      const data = await get("/api/tasks");
      tasks = new Map(data.tasks.map((t) => [t.id, t]));
      draw();
    } catch (error) {
      if (!(error instanceof ApiError)) return; // unreachable: the banner says so
      toast(error.message, "error");
    }
  };
  const reload = debounce(load, 250);

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

  const offFrame = feed.onFrame((frame) => {
    if (frame.type !== "task_update") return;
    const task = tasks.get(frame.task_id);
    if (task) {
      Object.assign(task, {
        status: frame.status, stage: frame.stage ?? task.stage, progress: frame.progress ?? task.progress,
        gate: frame.gate ?? null,
      });
      applySpend(task, frame);
      draw();
    }
    reload(); // costs and new tasks come from the API
  });
  for (const line of activity.all()) log.prepend(activity.row(line));
  const offActivity = activity.subscribe((line) => {
    log.prepend(activity.row(line));
    while (log.children.length > 300) log.lastChild.remove();
  });
  await load();
  return { cleanup: () => { offFrame(); offActivity(); }, refresh: load };
}
