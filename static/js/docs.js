// /docs: Swagger UI (static/vendor/swagger-ui, loaded before this file) renders the API's
// OpenAPI document. A file of ours, not an inline script, so the site's CSP holds on /docs too.
//
// The vendored release stays as it came (static/vendor/README.md); where its markup fails axe
// (tests/test_accessibility.py), the plugin below changes it through Swagger UI's own plugin
// system (wrapComponents), and static/css/docs.css its colours. Checked on Swagger UI 5.35.0.
"use strict";

// The accessibility fixes, one wrapped component each. `system.React` is the React that
// Swagger UI renders with (a root inject of its plugin system).
function AccessibleDocs(system) {
  const h = system.React.createElement;
  return {
    wrapComponents: {
      // nested-interactive: the operation's path is a deep link (<a href="#/tag/operationId">)
      // inside the summary's <button>, a focusable in a focusable. Rendered without its href
      // here, the <a> is plain text; the URL still follows the open operation (deepLinking
      // sets the fragment when an operation opens), so links to an operation keep working.
      OperationSummaryPath: (Original) => (props) =>
        h(Original, { ...props, operationProps: props.operationProps.set("isDeepLinkingEnabled", false) }),
      // select-name: the servers <select> sits in a <label> with no text; this label names it.
      Servers: (Original) => (props) =>
        h(
          "div",
          null,
          h("label", { htmlFor: "servers", className: "visually-hidden" }, "Server"),
          h(Original, props),
        ),
      // landmarks: Swagger UI puts the operations in its own <main> (so docs.html has none) and
      // leaves the title, the description and the servers outside any landmark (axe's region).
      // The header is inside Swagger UI's <section>, where it would be no banner unless told.
      InfoContainer: (Original) => (props) => h("header", { role: "banner" }, h(Original, props)),
      ServersContainer: (Original) => (props) =>
        h("section", { "aria-label": "Servers" }, h(Original, props)),
      // heading-order: the title is an <h1> and the tags are <h3>s; this <h2> comes between.
      operations: (Original) => (props) =>
        h("div", null, h("h2", { className: "visually-hidden" }, "Operations"), h(Original, props)),
    },
    components: {
      // scrollable-region-focusable: an example longer than its box (max-height 400px) scrolls,
      // and a keyboard can scroll only what it can focus. Swagger UI's viewer is this one <pre>
      // (no option sets its tabindex); ours is the same, focusable.
      PlainTextViewer: ({ className = "", children }) =>
        h("pre", { className: `microlight ${className}`.trim(), tabIndex: 0 }, children),
    },
  };
}

const root = document.getElementById("swagger-ui");
window.ui = window.SwaggerUIBundle({
  url: root.dataset.specUrl,
  domNode: root,
  deepLinking: true,
  // No badge fetched from the validator's site: nothing leaves this origin.
  validatorUrl: null,
  // color-contrast: the highlighter's themes colour tokens inline (agate's numbers: 3.4:1 on its
  // grey), out of docs.css's reach; plain text, white on dark grey, is 12.6:1.
  syntaxHighlight: { activated: false },
  plugins: [AccessibleDocs],
});
