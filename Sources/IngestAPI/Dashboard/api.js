// The dashboard's only way to the data: the public Stats API (v2 queries, v1 realtime) and the
// Sites API, with the same bearer key any client uses. Every request has a deadline.

/** How long a request may take before the dashboard gives up on it, in milliseconds. */
const TIMEOUT = 20_000;

/** A refused or failed request: `status` (0 when no answer came) and the server's words. */
export class ApiError extends Error {
  constructor(status, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

/** The Stats and Sites APIs, read with `key` (none: public sites only). */
export class StatsClient {
  constructor(key) {
    this.key = key || null;
  }

  /** The sites the key may read: `[{domain, timezone}]`. */
  async sites() {
    const body = await this.#request("GET", "/api/v1/sites");
    return Array.isArray(body?.sites) ? body.sites : [];
  }

  /** One site, `{domain, timezone}`: public, or covered by the key. */
  site(domain) {
    // "." and ".." would be resolved away by the browser into another route.
    if (/^\.*$/.test(domain)) return Promise.reject(new ApiError(400, `"${domain}" is not a site.`));
    return this.#request("GET", `/api/v1/sites/${encodeURIComponent(domain)}`);
  }

  /** A Stats API v2 query; answers `{results, meta, query}`. */
  query(body) {
    return this.#request("POST", "/api/v2/query", body);
  }

  /** Visitors of the last 5 minutes. */
  async realtime(domain) {
    const value = await this.#request("GET", `/api/v1/stats/realtime/visitors?site_id=${encodeURIComponent(domain)}`);
    return Number.isFinite(value) ? value : 0;
  }

  /** One request with the key and a deadline; the parsed JSON, or an ApiError. */
  async #request(method, path, body) {
    const headers = { Accept: "application/json" };
    if (this.key) headers.Authorization = `Bearer ${this.key}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit", cache: "no-store", signal: AbortSignal.timeout(TIMEOUT),
      });
    } catch (error) {
      const slow = error?.name === "TimeoutError";
      throw new ApiError(0, slow ? "The server took too long to answer; try a shorter period." : "The server could not be reached.");
    }
    let answer = null;
    try {
      answer = await response.json();
    } catch {
      answer = null;
    }
    if (!response.ok) {
      const message = typeof answer?.error === "string" ? answer.error : `The server answered ${response.status}.`;
      const retry = Number(response.headers.get("Retry-After"));
      throw new ApiError(response.status, message, Number.isFinite(retry) && retry > 0 ? retry : null);
    }
    return answer;
  }
}
