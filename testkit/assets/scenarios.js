// The cross-origin fetch() scenarios: shown by the playground, and run by the
// browser test suite, so both exercise exactly the same requests.
const SCENARIOS = [
  { id: "simple-get", name: "Simple GET", why: "allowed origin, no preflight", path: "/api/hello", init: {} },
  { id: "json-post", name: "JSON POST", why: "content-type: application/json forces a preflight", path: "/api/orders",
    init: { method: "POST", headers: { "content-type": "application/json" }, body: "{\"item\":1}" } },
  { id: "put-custom", name: "PUT with a custom header", why: "x-demo is in allow_headers", path: "/api/orders/1",
    init: { method: "PUT", headers: { "x-demo": "1" }, body: "x" } },
  { id: "delete", name: "DELETE", why: "DELETE is in allow_methods", path: "/api/orders/1", init: { method: "DELETE" } },
  { id: "header-refused", name: "Header not allowed", why: "x-secret is not in allow_headers: the preflight is refused",
    path: "/api/orders", init: { headers: { "x-secret": "1" } } },
  { id: "credentials", name: "Credentials", why: "credentials: 'include' on a route with allow_credentials", path: "/api/me",
    init: { credentials: "include" } },
  { id: "wildcard", name: "Wildcard route", why: "allow_origins [\"*\"] without credentials", path: "/public/logo", init: {} },
  { id: "wildcard-credentials", name: "Wildcard route with credentials", why: "a '*' answer can never be read with credentials",
    path: "/public/logo", init: { credentials: "include" } },
  { id: "upstream-down", name: "Upstream down", why: "the gateway answers 502 with CORS headers: readable, not an opaque error",
    path: "/down/x", init: {} },
  { id: "no-route", name: "No route", why: "a 404 the page can read", path: "/nowhere", init: {} },
];

async function runScenario(gateway, s) {
  try {
    const res = await fetch(gateway + s.path, { ...s.init, cache: "no-store" });
    const headers = [];
    res.headers.forEach((v, k) => headers.push([k, v]));
    await res.text();
    return { id: s.id, ok: true, status: res.status, headers };
  } catch (e) {
    return { id: s.id, ok: false, error: String(e) };
  }
}
