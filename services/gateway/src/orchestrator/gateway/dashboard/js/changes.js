// What a task changed against the project it started from (at the changes gate: what it is about
// to write), from GET /api/tasks/{id}/changes: one entry per file, with its unified diff.

import { ApiError, Unreachable, get } from "./api.js";
import { h } from "./dom.js";

function diffLine(line) {
  const kind = line.startsWith("+++") || line.startsWith("---") ? "file"
    : line.startsWith("@@") ? "hunk"
      : line.startsWith("+") ? "add"
        : line.startsWith("-") ? "del" : "same";
  return h("span", { class: `diff-${kind}` }, line || " ");
}

function changeEntry(change) {
  return h("li", { class: "change", dataset: { path: change.path, change: change.change } },
    h("div", { class: "row" }, h("span", { class: "mono grow" }, change.path),
      h("span", { class: `badge change-${change.change}` }, change.change)),
    change.diff === null
      ? h("p", { class: "muted small" }, "Binary file: no diff.")
      : h("pre", { class: "diff" }, change.diff.replace(/\n$/, "").split("\n").map(diffLine)));
}

export async function changesList(taskId) {
  const box = h("div", { class: "changes", id: "changes" });
  try {
    const { changes } = await get(`/api/tasks/${encodeURIComponent(taskId)}/changes`);
    box.append(changes.length
      ? h("ul", { class: "change-list" }, changes.map(changeEntry))
      : h("p", { class: "muted" }, "No file changes."));
  } catch (error) {
    if (!(error instanceof ApiError || error instanceof Unreachable)) throw error;
    box.append(h("p", { class: "error" }, error.message));
  }
  return box;
}
