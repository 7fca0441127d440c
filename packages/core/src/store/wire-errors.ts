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

/** What iovalkey raises when the link (not the command) failed. */
const LINK_MESSAGE =
  /Connection is closed|Stream isn't writeable|None of startup nodes|Failed to refresh slots cache|Too many Cluster redirections/i
const LINK_ERROR_NAMES = new Set(['MaxRetriesPerRequestError', 'ClusterAllFailedError'])

/**
 * Server replies (ReplyError) are ERR_COMMAND, except the cluster-state ones; link failures (a socket error code,
 * a closed connection, retries or cluster nodes exhausted) are ERR_CONNECT; anything else (a bug or a bad argument
 * caught before the wire) is ERR_COMMAND, so it is never mistaken for an outage.
 */
export function toKeyshardError(error: unknown, what: string): KeyshardError {
  if (isKeyshardError(error)) return error
  const e = error as { name?: unknown; message?: unknown; code?: unknown } | null
  const message = typeof e?.message === 'string' ? e.message : String(error)
  if (e?.name === 'ReplyError') {
    if (!/^(CLUSTERDOWN|LOADING|MASTERDOWN|TRYAGAIN)/.test(message))
      return new KeyshardError('ERR_COMMAND', `${what} failed: ${message}`, { cause: error })
  } else if (
    typeof e?.code !== 'string' &&
    !LINK_ERROR_NAMES.has(String(e?.name)) &&
    !LINK_MESSAGE.test(message)
  ) {
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
