// Swagger UI from the vendored bundle; the token the dashboard keeps for this tab is sent along.
const TOKEN_KEY = "orchestrator.token";

window.addEventListener("DOMContentLoaded", () => {
  window.SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null, // never ask the public validator (another host) about the spec
    requestInterceptor: (request) => {
      const token = window.sessionStorage.getItem(TOKEN_KEY);
      if (token) request.headers.Authorization = `Bearer ${token}`;
      return request;
    },
  });
});
