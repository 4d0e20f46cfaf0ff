// One task: the four stages as they happen, the model's tokens as they stream, the plan, the
// files, the validation rounds, its spend (live) and cost per stage, the gate it waits at, and
// cancel / retry.

import { ApiError, get, post } from "../api.js";
import { clear, cost, debounce, encodePath, h, shortId, statusBadge, toast, when } from "../dom.js";
import * as modelOutput from "../model_output.js";
import { applySpend, spendCells } from "../spend.js";
import { Steering, approvalsHistory } from "../steering.js";

const STAGES = [
  ["analysis", "Analysis", "claude"],
  ["implementation", "Implementation", "codex"],
  ["validation", "Validation", "claude2"],
  ["integration", "Integration", "ide"],
];
const GATE_STAGE = { plan: "analysis", changes: "validation" };

function stageState(task, stage) {
  const runs = task.stages.filter((entry) => entry.stage === stage);
  const latest = runs[runs.length - 1];
  if (task.status === "awaiting_approval" && GATE_STAGE[task.approval?.gate] === stage) {
    return { status: "awaiting_approval", latest, runs };
  }
  if (!latest) return { status: "pending", runs };
  return { status: latest.status, latest, runs };
}

// What an approval frame says, into the task as the API shows it, ahead of the next read.
function showApproval(task, frame) {
  if (frame.type === "approval_requested") {
    task.status = "awaiting_approval";
    task.approval = { gate: frame.gate, round: frame.round, summary: frame.summary,
      requested_at: frame.timestamp, timeout_s: frame.timeout_s, status: "waiting" };
  } else {
    task.status = "in_progress";
    task.approval = null;
  }
}

export async function render(view, { feed, params }) {
  const [taskId] = params;
  const header = h("div", { class: "card task-header" });
  const pipeline = h("ol", { class: "pipeline", id: "pipeline" });
  const cards = {};
  const outputs = {};
  for (const [stage, title, agent] of STAGES) {
    outputs[stage] = h("pre", { class: "model-output", dataset: { stage } });
    cards[stage] = {
      step: h("li", { class: "step", dataset: { stage, status: "pending" } },
        h("span", { class: "step-title" }, title), h("span", { class: "step-agent" }, agent),
        h("span", { class: "step-status" }, "pending")),
      body: h("div", { class: "stage-body" }),
    };
    pipeline.append(cards[stage].step);
  }
  const stageCards = h("div", { class: "stages" },
    STAGES.map(([stage, title]) => h("details", { class: "card stage-card", open: true, dataset: { stage } },
      h("summary", {}, h("h3", {}, title)), cards[stage].body,
      h("h4", {}, "Model output"), outputs[stage])));
  const side = h("div", { class: "side" });
  let task = null;
  const steering = new Steering(taskId, { reload: () => load() });
  view.append(header, steering.el, h("div", { class: "card" }, pipeline),
    h("div", { class: "task-grid" }, stageCards, side));

  const draw = () => {
    const cancellable = !["completed", "failed", "cancelled"].includes(task.status);
    const cancel = h("button", { id: "cancel", disabled: !cancellable, onclick: () => control("cancel") }, "Cancel");
    const retry = h("button", { id: "retry", disabled: task.status !== "failed", onclick: () => control("retry") }, "Retry");
    const spend = spendCells(task, { split: true });
    clear(header,
      h("div", { class: "row" }, h("h2", { class: "grow" }, task.requirement), statusBadge(task.status)),
      h("div", { class: "row meta" },
        h("span", { class: "mono" }, task.id),
        task.follows ? h("span", { class: "follows" }, "follow-up of ",
          h("a", { href: `#/task/${task.follows}`, class: "mono" }, shortId(task.follows))) : null,
        h("span", {}, `priority ${task.priority}`),
        h("span", {}, `created ${when(task.created_at)}`),
        h("span", { id: "task-cost" }, "cost ", spend.cost),
        h("span", { id: "task-tokens" }, spend.tokens),
        spend.budget ? h("span", { id: "task-budget" }, spend.budget) : null,
        h("span", { class: "spacer" }), cancel, retry),
      h("progress", { max: 100, value: task.progress, class: "wide" }),
      task.error ? h("p", { class: "error" }, `${task.error.stage}: ${task.error.code} – ${task.error.message}`) : null);
    for (const [stage] of STAGES) {
      const state = stageState(task, stage);
      const { step, body } = cards[stage];
      step.dataset.status = state.status;
      step.querySelector(".step-status").textContent = state.status.replace("_", " ");
      const usage = task.usage[stage];
      clear(body,
        h("p", { class: "meta" },
          state.latest ? [state.latest.agent, state.latest.provider, state.latest.model].filter(Boolean).join(" · ") : "not started",
          state.runs.length > 1 ? ` · ${state.runs.length} runs` : "",
          state.latest?.started_at ? ` · started ${when(state.latest.started_at)}` : "",
          state.latest?.finished_at ? ` · finished ${when(state.latest.finished_at)}` : ""),
        usage ? h("p", { class: "meta usage", dataset: { stage } },
          `${usage.input_tokens} in / ${usage.output_tokens} out tokens · ${cost(usage.cost_usd)}`) : null,
        task.results[stage] ? h("div", { class: "result" }, task.results[stage]) : null);
    }
    const checkRounds = (task.validation?.rounds ?? []).map((r) => h("li", {},
      h("strong", {}, `Round ${r.round}`),
      h("ul", {}, r.checks.map((c) => h("li", { class: `check check-${c.status}` },
        h("strong", {}, c.name), ` ${c.status.replace("_", " ")}`,
        c.summary ? h("span", { class: "muted" }, ` – ${c.summary}`) : null,
        c.status === "failed" && c.output_tail ? h("pre", { class: "check-output" }, c.output_tail) : null)))));
    const rounds = task.validation_rounds.map((r) => h("li", {},
      h("strong", {}, `Round ${r.round}`),
      h("ul", {}, r.findings.map((f) => h("li", {}, f)))));
    const timeline = task.stages.map((entry) => h("li", { class: `timeline-${entry.status}` },
      h("strong", {}, entry.stage), ` · ${entry.agent}`, entry.round > 1 ? ` · round ${entry.round}` : "",
      ` · ${entry.status}`, h("span", { class: "muted small" },
        ` ${when(entry.started_at)}${entry.finished_at ? ` → ${when(entry.finished_at)}` : ""}`)));
    steering.update(task);
    clear(side,
      approvalsHistory(task),
      h("div", { class: "card" }, h("h3", {}, "Timeline"),
        timeline.length ? h("ol", { class: "timeline", id: "timeline" }, timeline) : h("p", { class: "muted" }, "Waiting for an agent…")),
      h("div", { class: "card" }, h("h3", {}, "Plan"),
        task.results.analysis ? h("div", { class: "result plan" }, task.results.analysis) : h("p", { class: "muted" }, "Not yet analysed.")),
      h("div", { class: "card" }, h("h3", {}, "Files"),
        task.files.length ? h("ul", { class: "file-list", id: "task-files" }, task.files.map((f) =>
          h("li", {}, h("a", { href: `#/files/${encodePath(f.path)}` }, f.path), h("span", { class: "muted" }, ` ${f.size} B`))))
          : h("p", { class: "muted" }, "No files yet.")),
      h("div", { class: "card" }, h("h3", {}, "Checks in the sandbox"),
        checkRounds.length ? h("ol", { class: "check-rounds", id: "checks" }, checkRounds)
          : h("p", { class: "muted" }, "The code has not been run yet.")),
      h("div", { class: "card" }, h("h3", {}, "Validation rounds"),
        rounds.length ? h("ol", { class: "rounds" }, rounds) : h("p", { class: "muted" }, "No findings.")),
      h("div", { class: "card" }, h("h3", {}, "Cost per stage"),
        h("table", { class: "costs" }, h("tbody", {}, STAGES.map(([stage, title]) => h("tr", {},
          h("td", {}, title), h("td", { class: "num" }, task.usage[stage] ? cost(task.usage[stage].cost_usd) : "–")))),
        h("tfoot", {}, h("tr", {}, h("th", {}, "Total"), h("th", { class: "num" }, cost(task.cost_usd)))))));
  };

  const load = async () => {
    try {
      task = await get(`/api/tasks/${encodeURIComponent(taskId)}`);
      draw();
    } catch (error) {
      if (error instanceof ApiError) {
        clear(header, h("p", { class: "error" }, error.message), h("a", { href: "#/" }, "Back to tasks"));
      }
    }
  };
  const reload = debounce(load, 150);

  async function control(action) {
    try {
      const result = await post(`/api/tasks/${encodeURIComponent(taskId)}/${action}`);
      toast(`Task ${result.status}`, "ok");
      await load();
    } catch (error) {
      toast(error.message, "error");
    }
  }

  const showTokens = (frame) => {
    const pre = outputs[frame.stage];
    if (!pre) return;
    if (pre.dataset.round && pre.dataset.round !== String(frame.round)) {
      pre.append(h("span", { class: "round-mark" }, `\n— round ${frame.round} —\n`));
    }
    pre.dataset.round = String(frame.round);
    pre.append(document.createTextNode(frame.text));
    pre.scrollTop = pre.scrollHeight;
  };
  // What streamed before this page opened, then the rest live: nothing between the two is missed.
  for (const frame of modelOutput.framesOf(taskId)) showTokens(frame);
  const off = feed.onFrame((frame) => {
    if (frame.task_id !== taskId) return;
    if (frame.type === "model_output") {
      showTokens(frame);
    } else if (frame.type === "task_update" || frame.type === "validation_checks") {
      if (task && frame.type === "task_update" && applySpend(task, frame)) draw();
      reload();
    } else if (frame.type === "approval_requested" || frame.type === "approval_resolved") {
      if (task && !(frame.event_seq < task.event_seq)) {
        showApproval(task, frame);
        draw();
      }
      reload();
    }
  });
  await load();
  return { cleanup: off, refresh: load };
}
