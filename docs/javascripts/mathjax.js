// MathJax for pymdownx.arithmatex (generic mode): it wraps $…$ as \(…\) and $$…$$ as \[…\]
// in elements of class "arithmatex"; only those are typeset.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex"
  }
};

// mkdocs-material's instant navigation swaps pages without reloading: typeset each new page
document$.subscribe(() => {
  if (!window.MathJax.typesetPromise) return;   // the first page: MathJax typesets it on load
  MathJax.startup.output.clearCache();
  MathJax.typesetClear();
  MathJax.texReset();
  MathJax.typesetPromise();
});
