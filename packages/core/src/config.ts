import { parseDuration } from './duration.js'
import { richJsonEncoder } from './encoders/rich-json.js'
import { KeyshardError } from './errors.js'
import { validatePrefix } from './keys.js'
import type { Store } from './store/store.js'
import type {
  CacheMode,
  CacheOptions,
  Duration,
  Encoder,
  MemoryStoreOptions,
  TlsOptions,
  Transformer,
  Ttl,
} from './types.js'

export interface Seed {
  host: string
  port: number
}

/** Every option after defaults, the environment and validation; what the cache and its store are built from. */
export interface ResolvedCacheOptions {
  store?: Store
  mode: CacheMode
  seeds: Seed[]
  username?: string
  password?: string
  /** Present when TLS is on (`tls: true` becomes `{}`). */
  tls?: TlsOptions
  clientName: string
  readFrom: 'primary' | 'replica'
  autoPipelining: boolean
  poolSize: number
  maxRetries: number
  dialTimeoutMs: number
  offlineQueueLimit: number
  prefix: string
  defaultTtlMs: number | null
  encoder: Encoder
  transformers: Transformer[]
  maxValueBytes: number
  maxComputeRetries: number
  timeouts: { operationMs: number; atomicMs: number; bulkMs: number; flushMs: number }
  onError: 'throw' | 'miss'
  allowUnsafeFlush: boolean
  memory: MemoryStoreOptions
}

/** What the environment says, already parsed and validated. Every field is absent when its variables are unset. */
export interface EnvironmentConfig {
  mode?: CacheMode
  seeds?: Seed[]
  username?: string
  password?: string
  /** From CACHE_TLS_ENABLED, REDIS_TLS or a rediss:// / valkeys:// address. */
  tlsEnabled?: boolean
  /** PEM from CACHE_CA_CERT_BASE64. */
  ca?: string
  poolSize?: number
  maxRetries?: number
  dialTimeoutMs?: number
  readTimeoutMs?: number
  writeTimeoutMs?: number
}

export const DEFAULTS = {
  clientName: 'keyshard',
  readFrom: 'primary',
  autoPipelining: true,
  poolSize: 1,
  maxRetries: 1,
  dialTimeoutMs: 5_000,
  offlineQueueLimit: 1_000,
  prefix: 'ks:',
  defaultTtlMs: 3_600_000,
  maxValueBytes: 16 * 1024 * 1024,
  maxComputeRetries: 10,
  timeouts: { operationMs: 2_000, atomicMs: 5_000, bulkMs: 10_000, flushMs: 30_000 },
  onError: 'throw',
} as const

/** Valkey's default proto-max-bulk-len; a larger value could never be stored. */
const MAX_VALUE_BYTES_LIMIT = 512 * 1024 * 1024
const DEFAULT_PORT = 6379
const MODES: readonly CacheMode[] = ['single', 'cluster', 'memory']
const URL_SCHEMES: Record<string, boolean> = {
  'redis:': false,
  'rediss:': true,
  'valkey:': false,
  'valkeys:': true,
}
const TRUE_WORDS = new Set(['true', '1', 'yes', 'on'])
const FALSE_WORDS = new Set(['false', '0', 'no', 'off'])

/** Where a value came from, for error messages: an environment variable or an option. */
type Source = { variable: string } | { option: string }

export function configError(source: Source, problem: string, cause?: unknown): KeyshardError {
  const name = 'variable' in source ? source.variable : `option ${source.option}`
  return new KeyshardError('ERR_CONFIG', `${name}: ${problem}`, {
    ...(cause === undefined ? {} : { cause }),
    details: { ...source },
  })
}

/** Addresses parsed from host:port lists or URLs, with whatever the URLs carried. */
interface ParsedAddresses {
  seeds: Seed[]
  username?: string
  password?: string
  /** Set only when at least one entry was a URL (its scheme says whether TLS is on). */
  tls?: boolean
}

/**
 * Reads CACHE_* (and, when CACHE_ADDRS is unset and REDIS_HOST is set, REDIS_*) into parsed values. A set but
 * malformed variable is an ERR_CONFIG naming it; empty values count as unset. Passwords never appear in errors.
 */
export function readEnvironment(env: Record<string, string | undefined> = process.env): EnvironmentConfig {
  const get = (variable: string): string | undefined => {
    const value = env[variable]
    return value === undefined || value.trim() === '' ? undefined : value
  }
  const out: EnvironmentConfig = {}

  const mode = get('CACHE_MODE')
  if (mode !== undefined) out.mode = parseMode(mode.trim().toLowerCase(), { variable: 'CACHE_MODE' })

  let tlsFromAddresses: boolean | undefined
  const addrs = get('CACHE_ADDRS')
  let usernameFallback: string | undefined
  let passwordFallback: string | undefined
  let tlsFallback: boolean | undefined
  if (addrs !== undefined) {
    const parsed = parseAddresses(addrs, { variable: 'CACHE_ADDRS' })
    out.seeds = parsed.seeds
    usernameFallback = parsed.username
    passwordFallback = parsed.password
    tlsFromAddresses = parsed.tls
  } else {
    const host = get('REDIS_HOST')
    if (host !== undefined) {
      const port = get('REDIS_PORT')
      out.seeds = [
        {
          host: parseHost(host.trim(), { variable: 'REDIS_HOST' }),
          port: port === undefined ? DEFAULT_PORT : parsePort(port.trim(), { variable: 'REDIS_PORT' }),
        },
      ]
      usernameFallback = get('REDIS_USERNAME')
      passwordFallback = get('REDIS_PASSWORD')
      const tls = get('REDIS_TLS')
      if (tls !== undefined) tlsFallback = parseBoolean(tls, { variable: 'REDIS_TLS' })
    }
  }

  const username = get('CACHE_USERNAME') ?? usernameFallback
  if (username !== undefined) out.username = username
  const password = get('CACHE_PASSWORD') ?? passwordFallback
  if (password !== undefined) out.password = password

  const tlsVar = get('CACHE_TLS_ENABLED')
  const tlsEnabled =
    tlsVar === undefined ? tlsFallback : parseBoolean(tlsVar, { variable: 'CACHE_TLS_ENABLED' })
  if (tlsEnabled === false && tlsFromAddresses === true) {
    throw configError(
      { variable: tlsVar === undefined ? 'REDIS_TLS' : 'CACHE_TLS_ENABLED' },
      'TLS is disabled, but CACHE_ADDRS uses a rediss:// or valkeys:// URL; remove one of the two',
    )
  }
  const ca = get('CACHE_CA_CERT_BASE64')
  if (ca !== undefined) {
    out.ca = parseCaCert(ca, { variable: 'CACHE_CA_CERT_BASE64' })
    if (tlsEnabled === false) {
      throw configError(
        { variable: 'CACHE_CA_CERT_BASE64' },
        `a CA certificate is set, but ${tlsVar === undefined ? 'REDIS_TLS' : 'CACHE_TLS_ENABLED'} disables TLS`,
      )
    }
    if (tlsEnabled === undefined && tlsFromAddresses === false) {
      throw configError(
        { variable: 'CACHE_CA_CERT_BASE64' },
        'a CA certificate is set, but CACHE_ADDRS uses a redis:// or valkey:// URL (no TLS); use rediss:// or valkeys://',
      )
    }
  }
  const tls = tlsEnabled ?? tlsFromAddresses ?? (out.ca !== undefined ? true : undefined)
  if (tls !== undefined) out.tlsEnabled = tls

  const poolSize = get('CACHE_POOL_SIZE')
  if (poolSize !== undefined) out.poolSize = parseInteger(poolSize.trim(), 1, { variable: 'CACHE_POOL_SIZE' })
  const maxRetries = get('CACHE_MAX_RETRIES')
  if (maxRetries !== undefined)
    out.maxRetries = parseInteger(maxRetries.trim(), 0, { variable: 'CACHE_MAX_RETRIES' })
  const dial = get('CACHE_DIAL_TIMEOUT')
  if (dial !== undefined) out.dialTimeoutMs = parseTimeoutFrom(dial, { variable: 'CACHE_DIAL_TIMEOUT' })
  const read = get('CACHE_READ_TIMEOUT')
  if (read !== undefined) out.readTimeoutMs = parseTimeoutFrom(read, { variable: 'CACHE_READ_TIMEOUT' })
  const write = get('CACHE_WRITE_TIMEOUT')
  if (write !== undefined) out.writeTimeoutMs = parseTimeoutFrom(write, { variable: 'CACHE_WRITE_TIMEOUT' })
  return out
}

/**
 * Applies defaults, then the environment (unless `fromEnv: false`), then the explicit options, field by field:
 * an explicit option always beats the environment. Every bad value is an ERR_CONFIG naming the option or
 * variable.
 */
export function resolveCacheOptions(options: CacheOptions = {}): ResolvedCacheOptions {
  if (options === null || typeof options !== 'object') {
    throw new KeyshardError('ERR_CONFIG', 'createCache expects an options object')
  }
  const fromEnv = optionalBoolean(options.fromEnv, 'fromEnv') ?? true
  if (options.env !== undefined && (options.env === null || typeof options.env !== 'object')) {
    throw configError({ option: 'env' }, 'must be an object of environment variables')
  }
  const env = fromEnv ? readEnvironment(options.env ?? process.env) : {}

  // Explicit addresses replace the environment's list as a whole; lists are never merged.
  let explicit: ParsedAddresses | undefined
  if (options.url !== undefined && options.addresses !== undefined) {
    throw configError({ option: 'url' }, 'give either url or addresses, not both')
  }
  if (options.url !== undefined) {
    if (typeof options.url !== 'string') throw configError({ option: 'url' }, 'must be a string')
    explicit = parseAddresses(options.url, { option: 'url' })
    if (explicit.tls === undefined)
      throw configError({ option: 'url' }, 'must be a redis://, rediss://, valkey:// or valkeys:// URL')
  } else if (options.addresses !== undefined) {
    explicit = parseAddressOption(options.addresses)
  }

  const mode = options.mode === undefined ? env.mode : parseMode(options.mode, { option: 'mode' })
  const seeds = explicit?.seeds ?? env.seeds ?? []
  const resolvedMode: CacheMode = mode ?? (seeds.length > 0 ? 'single' : 'memory')
  if (options.store === undefined && resolvedMode !== 'memory' && seeds.length === 0) {
    const source: Source = options.mode === undefined ? { variable: 'CACHE_MODE' } : { option: 'mode' }
    throw configError(
      source,
      `mode '${resolvedMode}' needs at least one address: set CACHE_ADDRS (or REDIS_HOST), or the addresses option`,
    )
  }

  // Field by field: credentials from the environment still apply to explicit addresses that carry none.
  const username = optionalString(options.username, 'username') ?? explicit?.username ?? env.username
  const password = optionalString(options.password, 'password') ?? explicit?.password ?? env.password
  const tls = resolveTls(options.tls, explicit?.tls, env)

  const timeouts = options.timeouts ?? {}
  if (timeouts === null || typeof timeouts !== 'object')
    throw configError({ option: 'timeouts' }, 'must be an object')
  const readTimeoutMs = optionalDuration(options.readTimeout, 'readTimeout') ?? env.readTimeoutMs
  const writeTimeoutMs = optionalDuration(options.writeTimeout, 'writeTimeout') ?? env.writeTimeoutMs
  // A command is written, then its reply read: the longer of the two socket deadlines bounds the operation.
  const socketMs =
    readTimeoutMs === undefined && writeTimeoutMs === undefined
      ? undefined
      : Math.max(readTimeoutMs ?? 0, writeTimeoutMs ?? 0)

  const resolved: ResolvedCacheOptions = {
    mode: resolvedMode,
    seeds,
    clientName: parseClientName(options.clientName),
    readFrom: oneOf(options.readFrom, ['primary', 'replica'] as const, 'readFrom') ?? DEFAULTS.readFrom,
    autoPipelining: optionalBoolean(options.autoPipelining, 'autoPipelining') ?? DEFAULTS.autoPipelining,
    poolSize: optionalInteger(options.poolSize, 1, 'poolSize') ?? env.poolSize ?? DEFAULTS.poolSize,
    maxRetries: optionalInteger(options.maxRetries, 0, 'maxRetries') ?? env.maxRetries ?? DEFAULTS.maxRetries,
    dialTimeoutMs:
      optionalDuration(options.dialTimeout, 'dialTimeout') ?? env.dialTimeoutMs ?? DEFAULTS.dialTimeoutMs,
    offlineQueueLimit:
      optionalInteger(options.offlineQueueLimit, 0, 'offlineQueueLimit') ?? DEFAULTS.offlineQueueLimit,
    prefix: parsePrefix(options.prefix),
    defaultTtlMs: parseDefaultTtl(options.defaultTtl),
    encoder: parseEncoder(options.encoder),
    transformers: parseTransformers(options.transformers),
    maxValueBytes: parseMaxValueBytes(options.maxValueBytes),
    maxComputeRetries:
      optionalInteger(options.maxComputeRetries, 0, 'maxComputeRetries') ?? DEFAULTS.maxComputeRetries,
    timeouts: {
      operationMs:
        optionalDuration(timeouts.operation, 'timeouts.operation') ??
        socketMs ??
        DEFAULTS.timeouts.operationMs,
      atomicMs: optionalDuration(timeouts.atomic, 'timeouts.atomic') ?? DEFAULTS.timeouts.atomicMs,
      bulkMs: optionalDuration(timeouts.bulk, 'timeouts.bulk') ?? DEFAULTS.timeouts.bulkMs,
      flushMs: optionalDuration(timeouts.flush, 'timeouts.flush') ?? DEFAULTS.timeouts.flushMs,
    },
    onError: oneOf(options.onError, ['throw', 'miss'] as const, 'onError') ?? DEFAULTS.onError,
    allowUnsafeFlush: optionalBoolean(options.allowUnsafeFlush, 'allowUnsafeFlush') ?? false,
    memory: parseMemory(options.memory),
  }
  if (options.store !== undefined) resolved.store = parseStore(options.store)
  if (username !== undefined) resolved.username = username
  if (password !== undefined) resolved.password = password
  if (tls !== undefined) resolved.tls = tls
  return resolved
}

function resolveTls(
  option: CacheOptions['tls'],
  explicitUrlTls: boolean | undefined,
  env: EnvironmentConfig,
): TlsOptions | undefined {
  if (
    option !== undefined &&
    typeof option !== 'boolean' &&
    (option === null || typeof option !== 'object')
  ) {
    throw configError({ option: 'tls' }, 'must be true, false or an object such as { ca }')
  }
  if (option === false && explicitUrlTls === true) {
    throw configError(
      { option: 'tls' },
      'is false, but the address is a rediss:// or valkeys:// URL; remove one of the two',
    )
  }
  const enabled = option === undefined ? (explicitUrlTls ?? env.tlsEnabled ?? false) : option !== false
  if (!enabled) return undefined
  const given: TlsOptions = typeof option === 'object' ? option : {}
  if (given.ca !== undefined && typeof given.ca !== 'string' && !Buffer.isBuffer(given.ca)) {
    throw configError({ option: 'tls.ca' }, 'must be a PEM string or Buffer')
  }
  if (given.rejectUnauthorized !== undefined && typeof given.rejectUnauthorized !== 'boolean') {
    throw configError({ option: 'tls.rejectUnauthorized' }, 'must be a boolean')
  }
  if (given.servername !== undefined && typeof given.servername !== 'string') {
    throw configError({ option: 'tls.servername' }, 'must be a string')
  }
  return { ...(env.ca === undefined ? {} : { ca: env.ca }), ...given }
}

function parseMode(value: unknown, source: Source): CacheMode {
  if (typeof value === 'string' && (MODES as readonly string[]).includes(value)) return value as CacheMode
  throw configError(source, `must be one of ${MODES.join(', ')}, got ${JSON.stringify(value)}`)
}

function parseAddressOption(value: unknown): ParsedAddresses {
  const source = { option: 'addresses' }
  if (typeof value === 'string') return parseAddresses(value, source)
  if (!Array.isArray(value) || value.length === 0) {
    throw configError(source, 'must be a non-empty array of "host:port" strings or URLs, or one such string')
  }
  for (const entry of value) {
    if (typeof entry !== 'string')
      throw configError(source, `every address must be a string, got ${typeof entry}`)
  }
  return parseAddresses(value.join(','), source)
}

/**
 * A comma-separated list of `host:port` (`[::1]:6379` for IPv6; the port defaults to 6379) or of
 * redis:// rediss:// valkey:// valkeys:// URLs carrying user, password and TLS. Several URLs must agree on them.
 */
function parseAddresses(text: string, source: Source): ParsedAddresses {
  const entries = splitAddressList(text)
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0)
  if (entries.length === 0) throw configError(source, 'contains no address')
  const out: ParsedAddresses = { seeds: [] }
  for (const entry of entries) {
    if (!entry.includes('://')) {
      out.seeds.push(parseHostPort(entry, source))
      continue
    }
    const url = parseUrl(entry, source)
    out.seeds.push(url.seed)
    for (const field of ['username', 'password', 'tls'] as const) {
      const value = url[field]
      if (value === undefined) continue
      if (out[field] !== undefined && out[field] !== value) {
        throw configError(
          source,
          `the URLs disagree on ${field === 'tls' ? 'the scheme (TLS or not)' : `the ${field}`}; give them once`,
        )
      }
      ;(out as unknown as Record<string, unknown>)[field] = value
    }
  }
  return out
}

/**
 * Splits on commas, except one inside a URL's user:password (written unencoded): the piece after it carries the
 * '@' but no scheme, and splitting there would echo half a password in an error message. The piece before may
 * hold an '@' of its own (a password such as `s3cr@t:pa,ss`), so that is no reason to split.
 */
function splitAddressList(text: string): string[] {
  const out: string[] = []
  for (const piece of text.split(',')) {
    const previous = out.at(-1)
    if (previous?.includes('://') && piece.includes('@') && !piece.includes('://'))
      out[out.length - 1] = `${previous},${piece}`
    else out.push(piece)
  }
  return out
}

function parseUrl(
  text: string,
  source: Source,
): { seed: Seed; username?: string; password?: string; tls: boolean } {
  const shown = redactUrl(text)
  let url: URL
  try {
    url = new URL(text)
  } catch {
    // The parser's error carries the whole input, password included, so it is not kept as the cause.
    throw configError(source, `${shown} is not a valid URL`)
  }
  const tls = URL_SCHEMES[url.protocol]
  if (tls === undefined) {
    throw configError(
      source,
      `unsupported URL scheme "${url.protocol}" in ${shown}; use redis://, rediss://, valkey:// or valkeys://`,
    )
  }
  if (url.hostname === '') throw configError(source, `${shown} has no host`)
  if (url.pathname !== '' && url.pathname !== '/' && url.pathname !== '/0') {
    // Only a numeric path is echoed: anything else may be the tail of a password with an unencoded '/'.
    const db = /^\/\d+$/.test(url.pathname) ? `selects database ${url.pathname.slice(1)}` : 'has a path'
    throw configError(
      source,
      `${shown} ${db}; Keyshard uses database 0 (the only one in cluster mode) and separates data with prefixes and namespaces`,
    )
  }
  if (url.search !== '' || url.hash !== '') {
    throw configError(
      source,
      `${shown} has query parameters or a fragment, which Keyshard does not read; use options instead`,
    )
  }
  const port = url.port === '' ? DEFAULT_PORT : parsePort(url.port, source)
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
  const out: { seed: Seed; username?: string; password?: string; tls: boolean } = {
    seed: { host, port },
    tls,
  }
  try {
    if (url.username !== '') out.username = decodeURIComponent(url.username)
    if (url.password !== '') out.password = decodeURIComponent(url.password)
  } catch {
    throw configError(source, `the credentials in ${shown} are not valid percent-encoding`)
  }
  return out
}

function parseHostPort(entry: string, source: Source): Seed {
  if (entry.includes('@')) {
    // Not echoed: the part before '@' is most likely a password.
    throw configError(
      source,
      'an address has credentials but no scheme; write redis://user:password@host:port',
    )
  }
  let host: string
  let port: string | undefined
  if (entry.startsWith('[')) {
    const end = entry.indexOf(']')
    if (end === -1) throw configError(source, `"${entry}" has an unclosed IPv6 bracket; write [::1]:6379`)
    host = entry.slice(1, end)
    const rest = entry.slice(end + 1)
    if (rest !== '' && !rest.startsWith(':')) throw configError(source, `"${entry}" is not host:port`)
    port = rest === '' ? undefined : rest.slice(1)
    if (host === '' || !host.includes(':'))
      throw configError(source, `"${entry}" does not hold an IPv6 address in brackets`)
  } else {
    const colons = entry.split(':').length - 1
    if (colons > 1)
      throw configError(
        source,
        `"${entry}" looks like a bare IPv6 address; write it in brackets, e.g. [::1]:6379`,
      )
    const at = entry.indexOf(':')
    host = at === -1 ? entry : entry.slice(0, at)
    port = at === -1 ? undefined : entry.slice(at + 1)
    host = parseHost(host, source)
  }
  return { host, port: port === undefined ? DEFAULT_PORT : parsePort(port, source) }
}

function parseHost(host: string, source: Source): string {
  if (host === '' || /[\s/@?#[\]]/.test(host) || host.includes('://')) {
    throw configError(source, `"${host}" is not a valid host name or address`)
  }
  return host
}

function parsePort(text: string, source: Source): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN
  if (!(port >= 1 && port <= 65535))
    throw configError(source, `port "${text}" must be a number from 1 to 65535`)
  return port
}

function parseBoolean(text: string, source: Source): boolean {
  const word = text.trim().toLowerCase()
  if (TRUE_WORDS.has(word)) return true
  if (FALSE_WORDS.has(word)) return false
  throw configError(source, `must be true or false (also 1/0, yes/no, on/off), got ${JSON.stringify(text)}`)
}

function parseInteger(text: string, min: number, source: Source): number {
  const value = /^-?\d+$/.test(text) ? Number(text) : Number.NaN
  if (!Number.isSafeInteger(value) || value < min) {
    throw configError(
      source,
      `must be ${min === 1 ? 'a positive whole number' : `a whole number >= ${min}`}, got ${JSON.stringify(text)}`,
    )
  }
  return value
}

export function parseDurationFrom(value: Duration, source: Source): number {
  try {
    return parseDuration(value, 'duration')
  } catch (error) {
    throw configError(source, `${(error as Error).message}`, error)
  }
}

/** Node's timers fire at once for delays above 2^31-1 ms, which would turn a long timeout into an instant one. */
const MAX_TIMER_MS = 2_147_483_647

function parseTimeoutFrom(value: Duration, source: Source): number {
  const ms = parseDurationFrom(value, source)
  if (ms > MAX_TIMER_MS)
    throw configError(source, `must be at most ${MAX_TIMER_MS} ms (about 24.8 days), got ${ms}`)
  return ms
}

function parseCaCert(text: string, source: Source): string {
  const compact = text.replace(/\s+/g, '')
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(compact)) throw configError(source, 'is not valid base64')
  const pem = Buffer.from(
    compact,
    compact.includes('-') || compact.includes('_') ? 'base64url' : 'base64',
  ).toString('utf8')
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw configError(
      source,
      'does not decode to a PEM certificate (no "-----BEGIN CERTIFICATE-----"); base64-encode the whole PEM file',
    )
  }
  return pem
}

/** Shows where a URL points without its credentials (user info may hold unencoded `@` or `/`). */
function redactUrl(text: string): string {
  const at = text.lastIndexOf('@')
  if (at === -1) return `"${text}"`
  const scheme = text.indexOf('://')
  return `"${scheme === -1 ? '' : text.slice(0, scheme + 3)}***@${text.slice(at + 1)}"`
}

function optionalBoolean(value: unknown, option: string): boolean | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'boolean') throw configError({ option }, `must be a boolean, got ${typeof value}`)
  return value
}

function optionalString(value: unknown, option: string): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string') throw configError({ option }, `must be a string, got ${typeof value}`)
  return value
}

export function optionalInteger(value: unknown, min: number, option: string): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw configError({ option }, `must be an integer >= ${min}, got ${String(value)}`)
  }
  return value
}

function optionalDuration(value: unknown, option: string): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' && typeof value !== 'string') {
    throw configError(
      { option },
      `must be milliseconds or a duration string such as '5s', got ${typeof value}`,
    )
  }
  return parseTimeoutFrom(value, { option })
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], option: string): T | undefined {
  if (value === undefined) return undefined
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T
  throw configError(
    { option },
    `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(value)}`,
  )
}

function parseClientName(value: unknown): string {
  const name = optionalString(value, 'clientName') ?? DEFAULTS.clientName
  // CLIENT SETNAME refuses spaces and newlines; failing here beats failing on every connection.
  if (!/^[\x21-\x7e]+$/.test(name))
    throw configError({ option: 'clientName' }, 'must be non-empty printable ASCII without spaces')
  return name
}

function parsePrefix(value: unknown): string {
  if (value === undefined) return DEFAULTS.prefix
  validatePrefix(value)
  return value
}

function parseDefaultTtl(value: Ttl | undefined): number | null {
  if (value === undefined) return DEFAULTS.defaultTtlMs
  if (value === null) return null
  if (typeof value !== 'number' && typeof value !== 'string') {
    throw configError({ option: 'defaultTtl' }, `must be a duration or null, got ${typeof value}`)
  }
  return parseDurationFrom(value, { option: 'defaultTtl' })
}

function parseEncoder(value: unknown): Encoder {
  if (value === undefined) return richJsonEncoder
  const e = value as Partial<Encoder> | null
  if (
    e === null ||
    typeof e !== 'object' ||
    typeof e.name !== 'string' ||
    e.name.length === 0 ||
    typeof e.encode !== 'function' ||
    typeof e.decode !== 'function'
  ) {
    throw configError(
      { option: 'encoder' },
      'must be an object with a non-empty name and encode/decode functions',
    )
  }
  return value as Encoder
}

function parseTransformers(value: unknown): Transformer[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) throw configError({ option: 'transformers' }, 'must be an array')
  for (const t of value as Array<Partial<Transformer> | null>) {
    if (
      t === null ||
      typeof t !== 'object' ||
      typeof t.name !== 'string' ||
      t.name.length === 0 ||
      typeof t.apply !== 'function' ||
      typeof t.revert !== 'function'
    ) {
      throw configError(
        { option: 'transformers' },
        'every transformer must have a non-empty name and apply/revert functions',
      )
    }
  }
  return [...(value as Transformer[])]
}

function parseMaxValueBytes(value: unknown): number {
  const bytes = optionalInteger(value, 1, 'maxValueBytes') ?? DEFAULTS.maxValueBytes
  if (bytes > MAX_VALUE_BYTES_LIMIT) {
    throw configError(
      { option: 'maxValueBytes' },
      `must be at most ${MAX_VALUE_BYTES_LIMIT} (Valkey's largest value), got ${bytes}`,
    )
  }
  return bytes
}

function parseMemory(value: unknown): MemoryStoreOptions {
  if (value === undefined) return {}
  if (value === null || typeof value !== 'object')
    throw configError({ option: 'memory' }, 'must be an object')
  const memory = value as MemoryStoreOptions
  const maxEntries = optionalInteger(memory.maxEntries, 1, 'memory.maxEntries')
  const maxBytes = optionalInteger(memory.maxBytes, 1, 'memory.maxBytes')
  return {
    ...memory,
    ...(maxEntries === undefined ? {} : { maxEntries }),
    ...(maxBytes === undefined ? {} : { maxBytes }),
  }
}

/** Methods a store written before them may lack; without them every L1-filling read would fail later, as a miss. */
const LATER_STORE_METHODS = ['getWithTtl', 'getManyWithTtl'] as const

function parseStore(value: unknown): Store {
  const store = value as Partial<Store> | null
  if (
    store === null ||
    typeof store !== 'object' ||
    typeof store.get !== 'function' ||
    typeof store.set !== 'function'
  ) {
    throw configError({ option: 'store' }, 'must be a Store (for example a MemoryStore)')
  }
  const missing = LATER_STORE_METHODS.filter((method) => typeof store[method] !== 'function')
  if (missing.length > 0)
    throw configError({ option: 'store' }, `must be a Store; it has no ${missing.join(', ')}`)
  return value as Store
}
