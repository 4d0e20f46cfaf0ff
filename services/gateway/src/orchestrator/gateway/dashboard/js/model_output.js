// The model's tokens this tab has seen, per task: they are live only (never stored), and a task
// page opened just after a stage streamed (as when a requirement is submitted from the form and
// the analysis is quick) shows them instead of an empty pane. Bounded: the latest tasks only,
// and the end of each one's text.

const MAX_TASKS = 20;
const MAX_CHARS = 50000;
const seen = new Map(); // task_id -> { frames, chars }

export function record(frame) {
  if (frame.type !== "model_output" || !frame.task_id) return;
  let entry = seen.get(frame.task_id);
  if (!entry) {
    entry = { frames: [], chars: 0 };
    seen.set(frame.task_id, entry);
    if (seen.size > MAX_TASKS) seen.delete(seen.keys().next().value);
  }
  entry.frames.push(frame);
  entry.chars += (frame.text || "").length;
  while (entry.chars > MAX_CHARS && entry.frames.length > 1) {
    entry.chars -= (entry.frames.shift().text || "").length;
  }
}

export function framesOf(taskId) {
  return seen.get(taskId)?.frames.slice() || [];
}
