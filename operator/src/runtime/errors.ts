// API errors as the API server reports them (a metav1.Status body), with the few predicates the
// runtime decides on.

export interface StatusBody {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: unknown;
}

export class ApiError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly body: StatusBody | undefined;

  constructor(status: number, message: string, reason = '', body?: StatusBody) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.reason = reason;
    this.body = body;
  }

  /** Builds the error from a response status and its (possibly non-JSON) body. */
  static fromResponse(status: number, text: string, what: string): ApiError {
    let body: StatusBody | undefined;
    try {
      const parsed = JSON.parse(text) as unknown;
      if (parsed && typeof parsed === 'object') body = parsed as StatusBody;
    } catch {
      body = undefined;
    }
    const message = body?.message ?? (text.slice(0, 200) || `HTTP ${status}`);
    return new ApiError(status, `${what}: ${message}`, body?.reason ?? '', body);
  }

  /** From a watch ERROR event, whose object is a Status. */
  static fromStatus(status: StatusBody, what: string): ApiError {
    return new ApiError(
      status.code ?? 500,
      `${what}: ${status.message ?? 'watch error'}`,
      status.reason ?? '',
      status,
    );
  }
}

function statusOf(err: unknown): number | undefined {
  return err instanceof ApiError ? err.status : undefined;
}

export const isNotFound = (err: unknown): boolean => statusOf(err) === 404;
export const isConflict = (err: unknown): boolean =>
  statusOf(err) === 409 && (err as ApiError).reason !== 'AlreadyExists';
export const isAlreadyExists = (err: unknown): boolean =>
  statusOf(err) === 409 && (err as ApiError).reason === 'AlreadyExists';
/** 410: the resourceVersion asked for is older than the API server keeps; list again. */
export const isGone = (err: unknown): boolean => statusOf(err) === 410;
