// Archives: browse them, view an archived file, restore one into the workspace.

import { ApiError, get, loadOrToast, post } from "../api.js";
import { bytes, clear, encodePath, h, toast, when } from "../dom.js";
import { codeView } from "../viewer.js";

export async function render(view, { feed, params }) {
  const [name] = params;
  const list = h("aside", { class: "card archive-list", id: "archive-list" });
  const main = h("div", { class: "file-main", id: "archive-main" });
  view.append(h("h2", {}, "Archives"), h("div", { class: "files-grid" }, list, main));

  const loadList = async () => {
    const listed = await loadOrToast("/api/archive");
    if (!listed) return;
    const { archives } = listed;
    clear(list, archives.length
      ? h("ul", { class: "tree" }, archives.map((a) => h("li", { class: a.name === name ? "selected" : "" },
        h("a", { href: `#/archives/${a.name}`, dataset: { archive: a.name } }, a.name),
        h("div", { class: "muted small" }, `${when(a.created)} · ${a.files} file(s) · ${a.size}`))))
      : h("p", { class: "muted" }, "No archives yet. Resetting the project archives the workspace."));
  };

  const viewer = h("div", { id: "archive-viewer" });
  const showFile = async (path) => {
    try {
      const content = await get(`/api/archive/${name}/files/${encodePath(path)}`, { text: true });
      clear(viewer, h("div", { class: "card" }, h("h3", { class: "mono" }, path), codeView(path, content)));
    } catch (error) {
      toast(error.message, "error");
    }
  };
  const restore = async (path) => {
    try {
      const result = await post(`/api/archive/${name}/restore/${encodePath(path)}`);
      toast(`Restored ${result.workspace_path}`, "ok");
    } catch (error) {
      toast(error.message, "error");
    }
  };
  const loadArchive = async () => {
    if (!name) {
      clear(main, h("div", { class: "card" }, h("p", { class: "muted" }, "Pick an archive to browse it.")));
      return;
    }
    try {
      const archive = await get(`/api/archive/${name}/files`);
      clear(main,
        h("div", { class: "card" },
          h("h3", {}, archive.archive, h("span", { class: "muted small" }, ` · ${when(archive.created)}`)),
          h("table", { class: "archive-files" }, h("tbody", {}, archive.files.map((file) => h("tr", { dataset: { path: file.path } },
            h("td", { class: "mono" }, file.path),
            h("td", { class: "num muted" }, bytes(file.size)),
            h("td", {}, h("button", { class: "view", onclick: () => showFile(file.path) }, "View"),
              " ", h("button", { class: "restore primary", onclick: () => restore(file.path) }, "Restore"))))))),
        viewer);
    } catch (error) {
      clear(main, h("div", { class: "card" }, h("p", { class: "error" }, error.message)));
    }
  };
  const off = feed.onFrame((frame) => {
    if (frame.type === "workspace_archived") loadList();
  });
  await loadList();
  await loadArchive();
  return { cleanup: off, refresh: loadList };
}
