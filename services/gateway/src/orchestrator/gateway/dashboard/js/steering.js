// Steering a task: the gate it waits at (the plan, or the changes it is about to write), approve
// it or send it back with feedback; on a completed task, feedback submits a follow-up on the same
// project. A refused answer shows the error envelope's message where the buttons are.
//
// The panel is built once per task page and redrawn only when what it asks changes (another
// gate, round or status), so feedback being typed survives the page's frequent re-reads.

import { ApiError, Unreachable, post } from "./api.js";
import { changesList } from "./changes.js";
import { clear, h, shortId, toast, when } from "./dom.js";

const GATE_TITLE = { plan: "The plan", changes: "The changes to be written" };

function deadline(approval) {
  if (!approval.timeout_s) return "no time limit";
  const at = new Date(new Date(approval.requested_at).getTime() + approval.timeout_s * 1000);
  return Number.isNaN(at.getTime()) ? `${approval.timeout_s}s to answer`
    : `cancelled if unanswered by ${when(at.toISOString())}`;
}

function askedOf(task) {
  if (task.status === "awaiting_approval" && task.approval) {
    return `waiting|${task.approval.gate}|${task.approval.round}`;
  }
  return task.status === "completed" ? "completed" : "none";
}

export class Steering {
  constructor(taskId, { reload }) {
    this.taskId = taskId;
    this.reload = reload;
    this.asked = null;
    this.message = h("p", { class: "error", id: "steer-error", role: "alert", hidden: true });
    this.body = h("div", {});
    this.el = h("div", { class: "card steering", id: "steering", hidden: true }, this.body, this.message);
  }

  update(task) {
    const asked = askedOf(task);
    if (asked === this.asked) return;
    this.asked = asked;
    if (asked === "completed") this.drawFollowUp();
    else if (asked.startsWith("waiting|")) this.drawGate(task.approval);
    else clear(this.body);
    this.el.hidden = asked === "none" && this.message.hidden;
    this.el.dataset.asked = asked.split("|")[0];
  }

  drawGate(approval) {
    const feedback = h("textarea", {
      id: "feedback", rows: 3, maxlength: 10000, placeholder: "What should change? (to send it back)",
    });
    const approve = h("button", { type: "button", class: "primary", id: "approve" }, "Approve");
    const send = h("button", { type: "button", id: "send-feedback" }, "Send feedback");
    const changes = approval.gate === "changes" ? h("div", { id: "approval-changes" }, h("p", { class: "muted" }, "Loading the changes…")) : null;
    clear(this.body,
      h("div", { class: "row" }, h("h3", { class: "grow" }, "Waiting for your approval"),
        h("span", { class: "gate-pill", dataset: { gate: approval.gate } }, approval.gate)),
      h("p", { class: "meta", id: "approval-meta" },
        `${approval.gate} gate · round ${approval.round} · asked ${when(approval.requested_at)} · ${deadline(approval)}`),
      h("h4", {}, GATE_TITLE[approval.gate] || approval.gate),
      h("div", { class: "result approval-summary", id: "approval-summary" }, approval.summary),
      changes,
      h("label", { for: "feedback" }, "Feedback"), feedback,
      h("div", { class: "row" }, approve, send,
        h("span", { class: "muted small" }, "Feedback sends it back for another round.")));
    approve.addEventListener("click", () => this.answer([approve, send], "approve", undefined,
      () => `Approved the ${approval.gate}`));
    send.addEventListener("click", () => {
      if (!feedback.value.trim()) return this.show("Write your feedback first.");
      return this.answer([approve, send], "feedback", { message: feedback.value },
        () => `Sent the ${approval.gate} back with your feedback`);
    });
    if (changes) changesList(this.taskId).then((list) => clear(changes, list));
  }

  drawFollowUp() {
    const message = h("textarea", {
      id: "follow-up-message", rows: 3, maxlength: 10000, placeholder: "What should be different?",
    });
    const give = h("button", { type: "button", id: "give-feedback" }, "Give feedback");
    clear(this.body,
      h("h3", {}, "Give feedback"),
      h("p", { class: "muted small" }, "Submits a follow-up requirement that builds on this task's project."),
      message, h("div", { class: "row" }, give));
    give.addEventListener("click", async () => {
      if (!message.value.trim()) return this.show("Write your feedback first.");
      const result = await this.answer([give], "feedback", { message: message.value },
        (answer) => `Follow-up task ${shortId(answer.follow_up.task_id)} created`);
      if (result?.follow_up) window.location.hash = `#/task/${result.follow_up.task_id}`;
      return result;
    });
  }

  async answer(buttons, action, body, said) {
    this.show(null);
    for (const button of buttons) button.disabled = true;
    try {
      const result = await post(`/api/tasks/${encodeURIComponent(this.taskId)}/${action}`, body);
      toast(said(result), "ok");
      return result;
    } catch (error) {
      if (!(error instanceof ApiError || error instanceof Unreachable)) throw error;
      this.show(error.message);
      return null;
    } finally {
      for (const button of buttons) button.disabled = false;
      await this.reload();
    }
  }

  show(text) {
    this.message.hidden = !text;
    this.message.textContent = text || "";
    if (text) this.el.hidden = false;
  }
}

export function approvalsHistory(task) {
  if (!task.approvals?.length) return null;
  return h("div", { class: "card" }, h("h3", {}, "Approvals"),
    h("ol", { class: "approvals", id: "approvals" }, task.approvals.map((a) =>
      h("li", { class: `approval-${a.status}`, dataset: { gate: a.gate, round: a.round, status: a.status } },
        h("strong", {}, a.gate), ` · round ${a.round} · `, h("span", { class: "approval-status" }, a.status),
        a.feedback ? h("div", { class: "muted small feedback" }, `“${a.feedback}”`) : null))));
}
