// Home: the submit form; every task, live (cost and tokens, those waiting for a person marked);
// the activity log.

import * as activity from "../activity.js";
import { ApiError, get } from "../api.js";
import { clear, debounce, h, shortId, statusBadge, toast, when } from "../dom.js";
import { applySpend, spendCells } from "../spend.js";
import { submitForm } from "../submit_form.js";

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

export async function render(view, { feed }) {
  const form = submitForm();
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
