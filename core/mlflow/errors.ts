// Typed failures of the MLflow client, so callers can tell "fix your configuration" (a permanent
// answer such as 401, 403 or 404) from "the server is away" (retries ran out) without parsing text.

/**
 * A URI for a message: everything from the start of the authority (after `scheme://`, or the start
 * of the text when there is no scheme) up to its last `@` becomes `***`. Up to the last `@`, not
 * to the first `/`, `?` or `#`: a password written without percent-encoding may hold those, and
 * the text cannot tell it from a path. An `@` in a path hides the host too; never a password.
 */
export const withoutCredentials = (uri: string): string => {
  const at = uri.lastIndexOf("@");
  if (at < 0) return uri;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(uri)?.[0] ?? "";
  return `${scheme}***${uri.slice(at)}`;
};

/** Base class of every error the MLflow client throws. */
export class MlflowError extends Error {
  override name = "MlflowError";
}

/** The server answered with an error status. `retryable` is false for 4xx other than 408 and 429. */
export class MlflowHttpError extends MlflowError {
  override name = "MlflowHttpError";
  /** The server's `Retry-After`, in ms, when it sent one (429, 503). */
  retryAfterMs: number | undefined;
  /** The request's URL, any `user:password@` (or what may be one) as `***`. */
  readonly url: string;
  constructor(
    readonly method: string,
    url: string,
    readonly status: number,
    readonly statusText: string,
    /** MLflow's `error_code` (e.g. `RESOURCE_DOES_NOT_EXIST`), when the answer had one. */
    readonly errorCode: string | undefined,
    /** What the server said, cut to 1000 characters. */
    readonly serverMessage: string,
    readonly attempts: number,
  ) {
    super(
      `MLflow ${method} ${withoutCredentials(url)} answered ${status}${statusText ? ` ${statusText}` : ""}` +
        `${errorCode ? ` (${errorCode})` : ""}${serverMessage ? `: ${serverMessage}` : ""}` +
        (attempts > 1 ? ` (after ${attempts} attempts)` : ""),
    );
    this.url = withoutCredentials(url);
  }

  get retryable(): boolean {
    return isRetryableStatus(this.status);
  }
}

/** No answer: connection refused or reset, DNS failure, or the request timed out. */
export class MlflowNetworkError extends MlflowError {
  override name = "MlflowNetworkError";
  readonly url: string;
  readonly detail: string;
  constructor(
    readonly method: string,
    url: string,
    detail: string,
    readonly attempts: number,
    override readonly cause?: unknown,
  ) {
    const shown = withoutCredentials(url);
    const said = detail.split(url).join(shown); // (a runtime's message may quote the URL)
    super(`MLflow ${method} ${shown} failed: ${said}${attempts > 1 ? ` (after ${attempts} attempts)` : ""}`);
    this.url = shown;
    this.detail = said;
  }
}

/** The experiment traces are meant for is not one MLflow takes them into (deleted). */
export class MlflowExperimentError extends MlflowError {
  override name = "MlflowExperimentError";
}

/** The server answered 2xx with a body the client cannot use (not JSON, or the wrong shape). */
export class MlflowResponseError extends MlflowError {
  override name = "MlflowResponseError";
  readonly url: string;
  constructor(
    readonly method: string,
    url: string,
    readonly detail: string,
    readonly body: string,
  ) {
    super(`MLflow ${method} ${withoutCredentials(url)} gave an unusable answer: ${detail}; body: ${body.slice(0, 300)}`);
    this.url = withoutCredentials(url);
  }
}

/**
 * Network errors, 408 (a proxy or server timing the request out), 429 and 5xx are worth retrying,
 * as MLflow's own client treats them; every other status is a permanent answer, and so are 501 and
 * 505 (a file store's `/v1/traces` answers 501: the client sends the spans another way at once).
 */
export const isRetryableStatus = (status: number): boolean => status === 408 || status === 429 || (status >= 500 && status <= 599 && status !== 501 && status !== 505);
