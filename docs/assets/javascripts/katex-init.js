// Render the math on every page with KaTeX, offline.
// Markdown pages: pymdownx.arithmatex wraps math in \( \) or \[ \] inside .arithmatex.
// Notebook pages: markdown cells keep the $ and $$ delimiters that Jupyter uses.
(function () {
  "use strict";
  function render() {
    var root = document.querySelector("article") || document.body;
    renderMathInElement(root, {
      delimiters: [
        { left: "$$", right: "$$", display: true },
        { left: "\\[", right: "\\]", display: true },
        { left: "\\(", right: "\\)", display: false },
        { left: "$", right: "$", display: false }
      ],
      ignoredClasses: ["highlight", "jp-OutputArea-output"],
      throwOnError: false
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", render);
  } else {
    render();
  }
})();
