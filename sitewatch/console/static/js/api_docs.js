// @ts-check
// Starts Swagger UI on /docs from a file (the console's CSP allows no inline script).
// SwaggerUIBundle is the global the bundle at /docs-assets/swagger-ui-bundle.js defines.
const bundle = /** @type {any} */ (window).SwaggerUIBundle;
bundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true, withCredentials: true });
