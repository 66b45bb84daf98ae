// The API viewer over /openapi.json, with "try it out" against this server.
import { url } from "./root.js";

window.SwaggerUIBundle({
  url: url("/openapi.json"),
  dom_id: "#swagger",
  deepLinking: true,
  tryItOutEnabled: false,
  validatorUrl: null, // no badge fetched from another site
  displayRequestDuration: true,
  defaultModelsExpandDepth: 1,
  persistAuthorization: false,
});
