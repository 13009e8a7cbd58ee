"""The explain page's template: page.html, page.css and page.js, inlined by handprop.explain_html."""
