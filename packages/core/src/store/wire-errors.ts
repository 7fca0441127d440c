import { KeyshardError, isKeyshardError } from '../errors.js'

const TLS_CODE = /^(ERR_TLS|ERR_SSL|UNABLE_TO|SELF_SIGNED|DEPTH_ZERO|CERT_|ERR_OSSL|HOSTNAME_MISMATCH)/

/** A short human reason for a connection failure: auth, refused, TLS or timeout, plus the raw message. */
export function describeConnectError(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown } | null
  const code = typeof e?.code === 'string' ? e.code : ''
  const message = typeof e?.message === 'string' ? e.message : String(error)
  if (/WRONGPASS|NOAUTH|invalid username-password|invalid password|AUTH/i.test(message)) {
    return `authentication failed (${message})`
  }
  if (code === 'ECONNREFUSED') return `connection refused (${message})`
  if (TLS_CODE.test(code) || /certificate|tls|ssl/i.test(message))
    return `TLS error (${code || message}: ${message})`
  if (code === 'ETIMEDOUT' || /timed? ?out/i.test(message)) return `timeout (${message})`
  return code ? `${code}: ${message}` : message
}

/**
 * Server replies (ReplyError) are ERR_COMMAND; everything else iovalkey raises (closed connection, refused,
 * MaxRetriesPerRequest, cluster all-failed) means the link, so it is ERR_CONNECT.
 */
export function toKeyshardError(error: unknown, what: string): KeyshardError {
  if (isKeyshardError(error)) return error
  const e = error as { name?: unknown; message?: unknown } | null
  const message = typeof e?.message === 'string' ? e.message : String(error)
  if (e?.name === 'ReplyError' && !/^(CLUSTERDOWN|LOADING|MASTERDOWN|TRYAGAIN)/.test(message)) {
    return new KeyshardError('ERR_COMMAND', `${what} failed: ${message}`, { cause: error })
  }
  return new KeyshardError(
    'ERR_CONNECT',
    `${what} failed, connection problem: ${describeConnectError(error)}`,
    {
      cause: error,
    },
  )
}
