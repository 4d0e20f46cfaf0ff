// A task's spend: its cost (or "unknown"), its tokens and its budget, and the running totals a
// task_update frame carries after each model stage.

import { cost, h, money } from "./dom.js";

// The frame's totals into the task as the API shows it. A frame has no in/out split: those are
// left out until the next read rather than shown beside a total they no longer add up to.
export function applySpend(task, frame) {
  if (!("tokens" in frame)) return false;
  if (Number.isInteger(frame.event_seq) && Number.isInteger(task.event_seq) && frame.event_seq < task.event_seq) {
    return false; // older than what the API already said
  }
  task.cost_usd = frame.cost_usd;
  task.tokens = { total: frame.tokens };
  return true;
}

export function costText(task) {
  return cost(task.cost_usd);
}

export function tokensText(task, { split = false } = {}) {
  const tokens = task.tokens || {};
  const total = `${tokens.total ?? 0} tokens`;
  return !split || tokens.input === undefined ? total : `${total} (${tokens.input} in / ${tokens.output} out)`;
}

export function budgetText(budget) {
  if (!budget) return "";
  const limits = [];
  if (budget.max_cost_usd !== null && budget.max_cost_usd !== undefined) limits.push(money(budget.max_cost_usd));
  if (budget.max_tokens !== null && budget.max_tokens !== undefined) limits.push(`${budget.max_tokens} tokens`);
  return limits.length ? `budget ${limits.join(" · ")}` : "";
}

// The numbers are on data attributes as the API gave them, so what is shown can be checked.
export function spendCells(task, { split = false } = {}) {
  return {
    cost: h("span", { class: "spend-cost", dataset: { costUsd: task.cost_usd === null ? "null" : String(task.cost_usd ?? 0) } },
      costText(task)),
    tokens: h("span", { class: "spend-tokens", dataset: { tokens: String(task.tokens?.total ?? 0) } }, tokensText(task, { split })),
    budget: task.budget ? h("span", { class: "spend-budget" }, budgetText(task.budget)) : null,
  };
}
