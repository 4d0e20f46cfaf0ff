// The workspace: a tree, a highlighted viewer, and runs with their output in a live terminal.

import { ApiError, get, post } from "../api.js";
import { bytes, clear, debounce, encodePath, h, toast, when } from "../dom.js";
import { ExecutionStream } from "../live.js";
import { codeView } from "../viewer.js";

const PREFIX = "workspace/";

function tree(files, selected) {
  const root = { dirs: new Map(), files: [] };
  for (const file of files) {
    const parts = file.path.replace(/^workspace\//, "").split("/");
    let node = root;
    for (const dir of parts.slice(0, -1)) {
      if (!node.dirs.has(dir)) node.dirs.set(dir, { dirs: new Map(), files: [] });
      node = node.dirs.get(dir);
    }
    node.files.push(file);
  }
  const draw = (node) => h("ul", { class: "tree" },
    [...node.dirs.entries()].sort().map(([name, child]) =>
      h("li", { class: "dir" }, h("details", { open: true }, h("summary", {}, `${name}/`), draw(child)))),
    node.files.sort((a, b) => a.name.localeCompare(b.name)).map((file) => {
      const path = file.path.replace(/^workspace\//, "");
      return h("li", { class: `file${path === selected ? " selected" : ""}` },
        h("a", { href: `#/files/${encodePath(path)}`, dataset: { path } }, file.name),
        file.runnable ? h("span", { class: "pill" }, "runnable") : null);
    }));
  return draw(root);
}

export async function render(view, { feed, params }) {
  const selected = params[0] ? params[0].replace(/^workspace\//, "") : null;
  const side = h("aside", { class: "card file-tree", id: "file-tree" });
  const main = h("div", { class: "file-main" });
  const resetButton = h("button", { id: "reset", class: "danger" }, "Archive & clear workspace");
  view.append(
    h("div", { class: "row page-head" }, h("h2", { class: "grow" }, "Workspace files"), resetButton),
    h("div", { class: "files-grid" }, side, main),
  );
  let armed = false;
  resetButton.addEventListener("click", async () => {
    if (!armed) {
      armed = true;
      resetButton.textContent = "Click again to archive and clear";
      setTimeout(() => { armed = false; resetButton.textContent = "Archive & clear workspace"; }, 4000);
      return;
    }
    armed = false;
    try {
      const result = await post("/api/project/reset");
      toast(`Archived ${result.files_archived} file(s) to ${result.archive_path}`, "ok");
    } catch (error) {
      toast(error.message, "error");
    }
    resetButton.textContent = "Archive & clear workspace";
  });

  let files = [];
  const drawTree = () => {
    clear(side, files.length ? tree(files, selected) : h("p", { class: "muted" }, "The workspace is empty."));
  };
  const loadList = async () => {
    try {
      files = (await get("/api/workspace/files")).files;
      drawTree();
    } catch (error) {
      if (error instanceof ApiError) toast(error.message, "error");
    }
  };

  let stream = null;
  const showFile = async () => {
    if (!selected) {
      clear(main, h("div", { class: "card" }, h("p", { class: "muted" }, "Pick a file on the left to view or run it.")));
      return;
    }
    const entry = files.find((f) => f.path === PREFIX + selected);
    let content;
    try {
      content = await get(`/api/workspace/files/${encodePath(selected)}`, { text: true });
    } catch (error) {
      clear(main, h("div", { class: "card" }, h("p", { class: "error" }, error.message)));
      return;
    }
    const terminal = h("pre", { class: "terminal", id: "terminal" });
    const runInfo = h("div", { class: "row run-info", id: "run-info" });
    const run = h("button", { class: "primary", id: "run", disabled: entry && !entry.runnable }, "▶ Run");
    const stop = h("button", { id: "stop", disabled: true }, "■ Stop");
    let executionId = null;
    run.addEventListener("click", async () => {
      stream?.close();
      clear(terminal);
      run.disabled = true;
      try {
        const started = await post(`/api/workspace/run/${encodePath(selected)}`);
        executionId = started.execution_id;
        stop.disabled = false;
        clear(runInfo,
          h("span", { class: "mono" }, started.execution_id),
          h("span", { class: "badge status-in_progress", id: "run-status" }, "running"),
          started.command ? h("code", {}, started.command) : null,
          started.preview_url ? h("a", { href: started.preview_url, target: "_blank", rel: "noopener", id: "preview" }, `Preview ${started.preview_url}`) : null);
        stream = new ExecutionStream(started.execution_id, {
          onLine: (frame) => {
            terminal.append(h("span", { class: "term-line", dataset: { line: frame.line } }, frame.output), "\n");
            terminal.scrollTop = terminal.scrollHeight;
          },
          onFinished: (frame) => {
            stop.disabled = true;
            run.disabled = false;
            const status = runInfo.querySelector("#run-status");
            if (status) {
              status.textContent = `${frame.status} · exit ${frame.exit_code ?? "–"}`;
              status.className = `badge status-${frame.exit_code === 0 ? "completed" : "failed"}`;
              status.dataset.exitCode = String(frame.exit_code);
            }
            terminal.append(h("span", { class: "term-end" },
              `[${frame.status}${frame.exit_code === null || frame.exit_code === undefined ? "" : `, exit code ${frame.exit_code}`}${frame.duration_s ? `, ${frame.duration_s.toFixed(2)} s` : ""}]`));
          },
        });
      } catch (error) {
        run.disabled = false;
        toast(error.message, "error");
      }
    });
    stop.addEventListener("click", async () => {
      if (!executionId) return;
      try {
        await post(`/api/workspace/executions/${encodeURIComponent(executionId)}/stop`);
      } catch (error) {
        toast(error.message, "error");
      }
    });
    clear(main,
      h("div", { class: "card" },
        h("div", { class: "row" },
          h("h3", { class: "grow mono", id: "file-path" }, selected),
          entry ? h("span", { class: "muted" }, `${bytes(entry.size)} · ${when(entry.created)}`) : null,
          entry?.metadata?.command ? h("code", {}, entry.metadata.command) : null,
          run, stop),
        codeView(selected, content)),
      h("div", { class: "card" }, h("h3", {}, "Output"), runInfo, terminal));
  };

  const reload = debounce(loadList, 250);
  const off = feed.onFrame((frame) => {
    if (frame.type === "workspace_update" || frame.type === "workspace_archived") reload();
  });
  await loadList();
  await showFile();
  return { cleanup: () => { off(); stream?.close(); }, refresh: loadList };
}
