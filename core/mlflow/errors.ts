// Typed failures of the MLflow client, so callers can tell "fix your configuration" (a permanent
// answer such as 401, 403 or 404) from "the server is away" (retries ran out) without parsing text.

/** Base class of every error the MLflow client throws. */
export class MlflowError extends Error {
  override name = "MlflowError";
}

/** The server answered with an error status. `retryable` is false for 4xx other than 408 and 429. */
export class MlflowHttpError extends MlflowError {
  override name = "MlflowHttpError";
  /** The server's `Retry-After`, in ms, when it sent one (429, 503). */
  retryAfterMs: number | undefined;
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly statusText: string,
    /** MLflow's `error_code` (e.g. `RESOURCE_DOES_NOT_EXIST`), when the answer had one. */
    readonly errorCode: string | undefined,
    /** What the server said, cut to 1000 characters. */
    readonly serverMessage: string,
    readonly attempts: number,
  ) {
    super(
      `MLflow ${method} ${url} answered ${status}${statusText ? ` ${statusText}` : ""}` +
        `${errorCode ? ` (${errorCode})` : ""}${serverMessage ? `: ${serverMessage}` : ""}` +
        (attempts > 1 ? ` (after ${attempts} attempts)` : ""),
    );
  }

  get retryable(): boolean {
    return isRetryableStatus(this.status);
  }
}

/** No answer: connection refused or reset, DNS failure, or the request timed out. */
export class MlflowNetworkError extends MlflowError {
  override name = "MlflowNetworkError";
  constructor(
    readonly method: string,
    readonly url: string,
    readonly detail: string,
    readonly attempts: number,
    override readonly cause?: unknown,
  ) {
    super(`MLflow ${method} ${url} failed: ${detail}${attempts > 1 ? ` (after ${attempts} attempts)` : ""}`);
  }
}

/** The experiment traces are meant for is not one MLflow takes them into (deleted). */
export class MlflowExperimentError extends MlflowError {
  override name = "MlflowExperimentError";
}

/** The server answered 2xx with a body the client cannot use (not JSON, or the wrong shape). */
export class MlflowResponseError extends MlflowError {
  override name = "MlflowResponseError";
  constructor(
    readonly method: string,
    readonly url: string,
    readonly detail: string,
    readonly body: string,
  ) {
    super(`MLflow ${method} ${url} gave an unusable answer: ${detail}; body: ${body.slice(0, 300)}`);
  }
}

/**
 * Network errors, 408 (a proxy or server timing the request out), 429 and 5xx are worth retrying,
 * as MLflow's own client treats them; every other status is a permanent answer.
 */
export const isRetryableStatus = (status: number): boolean => status === 408 || status === 429 || (status >= 500 && status <= 599);
