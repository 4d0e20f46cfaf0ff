// Every frame from a persisted event, once, in order: the home page's live activity log.

import { h, shortId } from "./dom.js";

const MAX = 300;
const lines = [];
const listeners = new Set();

function describe(frame) {
  switch (frame.type) {
    case "task_update":
      return `${shortId(frame.task_id)} ${frame.status}${frame.stage ? ` · ${frame.stage}` : ""}`
        + (frame.progress === undefined ? "" : ` · ${frame.progress}%`);
    case "agent_status":
      return `${frame.agent} is ${frame.status}${frame.current_task ? ` on ${shortId(frame.current_task)}` : ""}`;
    case "workspace_update":
      return `workspace ${frame.action} ${frame.path || frame.archive_name || ""}`;
    case "workspace_archived":
      return `archived ${frame.files_archived} file(s) as ${frame.archive_name}`;
    case "execution_started":
      return `run ${frame.execution_id} started: ${frame.command || frame.path}`;
    case "execution_output":
      return `run ${frame.execution_id} | ${frame.output}`;
    case "approval_requested":
      return `${shortId(frame.task_id)} waits for approval of the ${frame.gate} (round ${frame.round})`;
    case "approval_resolved":
      return `${shortId(frame.task_id)} ${frame.gate} ${frame.decision === "approved" ? "approved" : "sent back with feedback"}`;
    case "execution_finished":
      return `run ${frame.execution_id} ${frame.status} (exit ${frame.exit_code ?? "–"})`;
    default:
      return frame.type;
  }
}

export function record(frame) {
  if (!Number.isInteger(frame.event_seq)) return;
  const line = { seq: frame.event_seq, type: frame.type, text: describe(frame) };
  lines.push(line);
  if (lines.length > MAX) lines.shift();
  for (const fn of listeners) fn(line);
}

export function row(line) {
  return h("li", { class: `activity-line activity-${line.type}`, dataset: { seq: line.seq } },
    h("span", { class: "seq" }, `#${line.seq}`), h("span", { class: "text" }, line.text));
}

export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function all() {
  return lines.slice();
}
