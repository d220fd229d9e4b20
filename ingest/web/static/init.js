// Starts GOV.UK Frontend's components (skip link, error summary, radios, service navigation).
// A file of its own because the Content-Security-Policy allows no inline script.
import { initAll } from "./govuk-frontend.min.js";

document.body.classList.add("js-enabled", "govuk-frontend-supported");
initAll();
