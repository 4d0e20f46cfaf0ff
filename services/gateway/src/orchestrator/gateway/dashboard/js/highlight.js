// A small syntax highlighter: one regular expression per language, tokens as <span>s built with
// textContent (never innerHTML), so a file's content can never become markup.

const PY_KEYWORDS = [
  "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
  "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in",
  "is", "lambda", "match", "case", "nonlocal", "not", "or", "pass", "raise", "return", "try",
  "while", "with", "yield", "self",
];
const JS_KEYWORDS = [
  "async", "await", "break", "case", "catch", "class", "const", "continue", "default", "delete",
  "do", "else", "export", "extends", "false", "finally", "for", "from", "function", "if", "import",
  "in", "instanceof", "let", "new", "null", "of", "return", "static", "super", "switch", "this",
  "throw", "true", "try", "typeof", "undefined", "var", "void", "while", "yield", "interface",
  "type",
];
const SH_KEYWORDS = [
  "if", "then", "else", "elif", "fi", "for", "in", "do", "done", "while", "case", "esac",
  "function", "return", "export", "local", "echo", "set",
];

function words(list) {
  return `\\b(?:${list.join("|")})\\b`;
}

const LANGUAGES = {
  python: [
    ["com", /#[^\n]*/],
    ["str", /[rbuf]{0,2}(?:"""[\s\S]*?"""|'''[\s\S]*?'''|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')/],
    ["dec", /@[A-Za-z_][\w.]*/],
    ["kw", new RegExp(words(PY_KEYWORDS))],
    ["num", /\b(?:0[xob][\da-fA-F_]+|\d[\d_]*(?:\.\d+)?(?:e[+-]?\d+)?)\b/],
    ["fn", /\b[A-Za-z_]\w*(?=\()/],
  ],
  javascript: [
    ["com", /\/\/[^\n]*|\/\*[\s\S]*?\*\//],
    ["str", /`(?:\\.|[^`\\])*`|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'/],
    ["kw", new RegExp(words(JS_KEYWORDS))],
    ["num", /\b\d[\d_]*(?:\.\d+)?\b/],
    ["fn", /\b[A-Za-z_$][\w$]*(?=\()/],
  ],
  json: [
    ["key", /"(?:\\.|[^"\\\n])*"(?=\s*:)/],
    ["str", /"(?:\\.|[^"\\\n])*"/],
    ["kw", /\b(?:true|false|null)\b/],
    ["num", /-?\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b/],
  ],
  shell: [
    ["com", /#[^\n]*/],
    ["str", /"(?:\\.|[^"\\])*"|'[^']*'/],
    ["var", /\$\{?[A-Za-z_]\w*\}?/],
    ["kw", new RegExp(words(SH_KEYWORDS))],
  ],
  markup: [
    ["com", /<!--[\s\S]*?-->/],
    ["tag", /<\/?[A-Za-z][\w-]*|\/?>/],
    ["str", /"[^"]*"|'[^']*'/],
  ],
  css: [
    ["com", /\/\*[\s\S]*?\*\//],
    ["str", /"[^"]*"|'[^']*'/],
    ["key", /[\w-]+(?=\s*:)/],
    ["num", /-?\b\d+(?:\.\d+)?(?:px|em|rem|%|s|ms|vh|vw)?\b/],
  ],
  toml: [
    ["com", /#[^\n]*/],
    ["tag", /^\s*\[[^\]\n]*\]/m],
    ["str", /"(?:\\.|[^"\\\n])*"|'[^'\n]*'/],
    ["key", /^[\w.-]+(?=\s*=)/m],
    ["kw", /\b(?:true|false)\b/],
    ["num", /\b\d+(?:\.\d+)?\b/],
  ],
};

const BY_SUFFIX = {
  py: "python", pyi: "python", js: "javascript", mjs: "javascript", ts: "javascript",
  jsx: "javascript", tsx: "javascript", json: "json", sh: "shell", bash: "shell", html: "markup",
  htm: "markup", xml: "markup", svg: "markup", css: "css", toml: "toml", cfg: "toml", ini: "toml",
  yaml: "toml", yml: "toml",
};

export function languageOf(path) {
  const suffix = (path.split(".").pop() || "").toLowerCase();
  return BY_SUFFIX[suffix] || null;
}

function compile(rules) {
  const source = rules.map(([, re]) => `(${re.source})`).join("|");
  const flags = rules.some(([, re]) => re.flags.includes("m")) ? "gm" : "g";
  return new RegExp(source, flags);
}

const COMPILED = Object.fromEntries(
  Object.entries(LANGUAGES).map(([name, rules]) => [name, compile(rules)]),
);

// A fragment of text nodes and <span class="tok-..."> for ``code``.
export function highlight(code, language) {
  const fragment = document.createDocumentFragment();
  const rules = LANGUAGES[language];
  if (!rules) {
    fragment.append(document.createTextNode(code));
    return fragment;
  }
  const re = new RegExp(COMPILED[language].source, COMPILED[language].flags);
  let last = 0;
  for (const match of code.matchAll(re)) {
    if (match[0] === "") continue;
    if (match.index > last) fragment.append(document.createTextNode(code.slice(last, match.index)));
    const group = match.slice(1).findIndex((value) => value !== undefined);
    const span = document.createElement("span");
    span.className = `tok-${rules[group][0]}`;
    span.textContent = match[0];
    fragment.append(span);
    last = match.index + match[0].length;
  }
  if (last < code.length) fragment.append(document.createTextNode(code.slice(last)));
  return fragment;
}
