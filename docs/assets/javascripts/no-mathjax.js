// Deliberately empty: stands in for the MathJax that nbconvert's notebook template would
// load from a CDN. The site renders math offline with KaTeX (katex-init.js).
