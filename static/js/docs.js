// /docs: Swagger UI (static/vendor/swagger-ui, loaded before this file) renders the API's
// OpenAPI document. A file of ours, not an inline script, so the site's CSP holds on /docs too.
"use strict";

const root = document.getElementById("swagger-ui");
window.ui = window.SwaggerUIBundle({
  url: root.dataset.specUrl,
  domNode: root,
  deepLinking: true,
  // No badge fetched from the validator's site: nothing leaves this origin.
  validatorUrl: null,
});
