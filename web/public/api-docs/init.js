// The interactive API documentation: Swagger UI on the server's own OpenAPI document.
// "Authorize" takes an access token from POST /auth/login; "Try it out" sends requests
// to this server.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    persistAuthorization: false,
    tryItOutEnabled: false,
  });
});
