// Starts Swagger UI on /docs. A file of its own: the page's Content-Security-Policy
// allows no inline script. Everything it loads comes from this origin.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    // The API's document, as the page names it (GET /openapi.json).
    url: root.dataset.openapiUrl,
    domNode: root,
    // Swagger UI's default sends the document to validator.swagger.io for a badge:
    // nothing leaves this origin.
    validatorUrl: null,
    // No ?url=... or ?configUrl=... from the address bar: the page shows this API's
    // document only, never one an outside link points it at.
    queryConfigEnabled: false,
    // The API's own operations only: no top bar with a field to load another document.
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // "Try it out" stays off until a person turns it on for one operation; the
    // document's only server is this origin, so a request it sends goes nowhere else.
    tryItOutEnabled: false,
  });
})();
