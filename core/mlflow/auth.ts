// The Authorization header MLflow's clients send: Basic from MLFLOW_TRACKING_USERNAME/PASSWORD
// (what `mlflow server --app-name basic-auth` checks), or Bearer from MLFLOW_TRACKING_TOKEN
// (proxies, Databricks).

export interface MlflowAuth {
  username?: string;
  password?: string;
  token?: string;
}

/** UTF-8 safe base64 (btoa alone only takes Latin-1). */
function base64Utf8(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/**
 * `{ Authorization }` for the given credentials, or `{}`. Basic wins over Bearer, as in Python's
 * `http_request`. `fromUri`: the credentials were written into the tracking URI, where a user alone
 * (`http://user@host`) or a password alone still means Basic, as `requests` reads it.
 */
export function authHeaders(auth: MlflowAuth, fromUri = false): Record<string, string> {
  if ((auth.username && auth.password) || (fromUri && (auth.username || auth.password))) {
    return { Authorization: `Basic ${base64Utf8(`${auth.username ?? ""}:${auth.password ?? ""}`)}` };
  }
  if (auth.token) return { Authorization: `Bearer ${auth.token}` };
  return {};
}
