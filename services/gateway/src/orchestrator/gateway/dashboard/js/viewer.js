// A read-only code viewer with line numbers and highlighting; shared by files and archives.

import { h } from "./dom.js";
import { highlight, languageOf } from "./highlight.js";

export function codeView(path, content) {
  const code = h("code", { class: `lang-${languageOf(path) || "plain"}` });
  code.append(highlight(content, languageOf(path)));
  const count = content.split("\n").length - (content.endsWith("\n") ? 1 : 0);
  const gutter = h("pre", { class: "gutter", "aria-hidden": "true" },
    Array.from({ length: Math.max(count, 1) }, (_, i) => `${i + 1}\n`).join(""));
  return h("div", { class: "code-view", dataset: { path } }, gutter, h("pre", { class: "code" }, code));
}
