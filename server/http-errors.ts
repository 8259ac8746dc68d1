/** How the server answers requests that fail before or outside a route: kept apart from buildServer so each stays readable. */

/** The headers helmet writes, copied onto replies that never reach a route (a malformed URL). */
export const SECURITY_HEADERS = [
  'content-security-policy',
  'cross-origin-opener-policy',
  'cross-origin-resource-policy',
  'origin-agent-cluster',
  'referrer-policy',
  'strict-transport-security',
  'x-content-type-options',
  'x-dns-prefetch-control',
  'x-download-options',
  'x-frame-options',
  'x-permitted-cross-domain-policies',
  'x-xss-protection'
]
/** PostgreSQL's codes for text it cannot store (SQLSTATE 22021, 22P05). */
export const PG_BAD_TEXT = new Set(['22021', '22P05'])

/** Our codes for fastify's own 4xx errors. */
export const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'INSTORE_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'INSTORE_BAD_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INSTORE_BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INSTORE_BAD_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INSTORE_BAD_JSON',
  FST_ERR_MAX_PARAM_LENGTH: 'INSTORE_TOO_LONG',
  FST_ERR_BAD_URL: 'INSTORE_BAD_URL'
}

/** The answer to a request Node's HTTP parser refused, by the parser's error code. */
export function clientErrorReply(code: string | undefined): [number, string, string] {
  if (code === 'HPE_HEADER_OVERFLOW') return [431, 'INSTORE_HEADERS_TOO_LARGE', "the request's headers are over the server's limit"]
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return [408, 'INSTORE_TIMEOUT', 'the request was not received in time']
  return [400, 'INSTORE_BAD_HTTP', `the request is not valid HTTP (${String(code ?? 'unknown').slice(0, 40)})`]
}
