import { describe, expect, it } from 'vitest'
import { readEnvironment, resolveCacheOptions } from '../../src/config.js'
import { compression } from '../../src/encoders/compression.js'
import { msgpackEncoder } from '../../src/encoders/msgpack.js'
import { richJsonEncoder } from '../../src/encoders/rich-json.js'
import { isKeyshardError, type KeyshardError } from '../../src/errors.js'
import { MemoryStore } from '../../src/store/memory-store.js'
import type { CacheOptions } from '../../src/types.js'

const PEM = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUTest\n-----END CERTIFICATE-----\n'
const PEM_B64 = Buffer.from(PEM).toString('base64')
const SECRET = 'pa55:w@rd/secret'

const resolve = (env: Record<string, string | undefined>, options: CacheOptions = {}) =>
  resolveCacheOptions({ env, ...options })

function configError(fn: () => unknown): KeyshardError {
  try {
    fn()
  } catch (error) {
    expect(isKeyshardError(error, 'ERR_CONFIG'), String(error)).toBe(true)
    return error as KeyshardError
  }
  throw new Error('expected ERR_CONFIG')
}

describe('defaults', () => {
  it('with nothing configured: the memory store and every documented default', () => {
    const o = resolve({})
    expect(o).toEqual({
      mode: 'memory',
      seeds: [],
      clientName: 'keyshard',
      readFrom: 'primary',
      autoPipelining: true,
      poolSize: 1,
      maxRetries: 1,
      dialTimeoutMs: 5000,
      offlineQueueLimit: 1000,
      prefix: 'ks:',
      defaultTtlMs: 3_600_000,
      encoder: richJsonEncoder,
      transformers: [],
      maxValueBytes: 16 * 1024 * 1024,
      maxComputeRetries: 10,
      timeouts: { operationMs: 2000, atomicMs: 5000, bulkMs: 10_000, flushMs: 30_000 },
      onError: 'throw',
      allowUnsafeFlush: false,
      memory: {},
    })
  })

  it('reads process.env when no env is given, and nothing at all with fromEnv: false', () => {
    const saved = process.env.CACHE_ADDRS
    process.env.CACHE_ADDRS = 'from-process-env:7000'
    try {
      expect(resolveCacheOptions().seeds).toEqual([{ host: 'from-process-env', port: 7000 }])
      expect(resolveCacheOptions({ fromEnv: false }).mode).toBe('memory')
      expect(resolveCacheOptions({ fromEnv: false, env: { CACHE_ADDRS: 'x:1' } }).seeds).toEqual([])
    } finally {
      if (saved === undefined) delete process.env.CACHE_ADDRS
      else process.env.CACHE_ADDRS = saved
    }
  })
})

describe('environment variables', () => {
  it('reads every CACHE_* variable', () => {
    const o = resolve({
      CACHE_MODE: 'Cluster',
      CACHE_ADDRS: '10.0.0.1:7000, 10.0.0.2:7001,[::1]:7002,cache.internal',
      CACHE_USERNAME: 'app',
      CACHE_PASSWORD: SECRET,
      CACHE_TLS_ENABLED: 'yes',
      CACHE_CA_CERT_BASE64: PEM_B64,
      CACHE_POOL_SIZE: '4',
      CACHE_MAX_RETRIES: '0',
      CACHE_DIAL_TIMEOUT: '3s',
      CACHE_READ_TIMEOUT: '1500ms',
      CACHE_WRITE_TIMEOUT: '1s',
    })
    expect(o.mode).toBe('cluster')
    expect(o.seeds).toEqual([
      { host: '10.0.0.1', port: 7000 },
      { host: '10.0.0.2', port: 7001 },
      { host: '::1', port: 7002 },
      { host: 'cache.internal', port: 6379 },
    ])
    expect(o.username).toBe('app')
    expect(o.password).toBe(SECRET)
    expect(o.tls).toEqual({ ca: PEM })
    expect(o.poolSize).toBe(4)
    expect(o.maxRetries).toBe(0)
    expect(o.dialTimeoutMs).toBe(3000)
    expect(o.timeouts.operationMs).toBe(1500)
  })

  it.each([
    ['true', true],
    ['TRUE', true],
    ['1', true],
    ['yes', true],
    ['on', true],
    ['false', false],
    ['0', false],
    ['No', false],
    ['off', false],
  ])('CACHE_TLS_ENABLED=%s', (value, on) => {
    expect(resolve({ CACHE_ADDRS: 'h:1', CACHE_TLS_ENABLED: value }).tls).toEqual(on ? {} : undefined)
  })

  it('treats empty variables as unset', () => {
    const o = resolve({ CACHE_MODE: '', CACHE_ADDRS: '  ', CACHE_PASSWORD: '', CACHE_POOL_SIZE: '' })
    expect(o.mode).toBe('memory')
    expect(o.password).toBeUndefined()
    expect(o.poolSize).toBe(1)
  })

  it('a CA certificate turns TLS on by itself', () => {
    expect(resolve({ CACHE_ADDRS: 'h:1', CACHE_CA_CERT_BASE64: PEM_B64 }).tls).toEqual({ ca: PEM })
    // base64 wrapped over lines, as `base64` prints it
    const wrapped = PEM_B64.replace(/(.{20})/g, '$1\n')
    expect(resolve({ CACHE_ADDRS: 'h:1', CACHE_CA_CERT_BASE64: wrapped }).tls).toEqual({ ca: PEM })
  })

  it.each([
    ['CACHE_MODE', 'sentinel', /single, cluster, memory/],
    ['CACHE_ADDRS', 'host:port', /port "port"/],
    ['CACHE_ADDRS', 'host:0', /1 to 65535/],
    ['CACHE_ADDRS', 'host:65536', /1 to 65535/],
    ['CACHE_ADDRS', 'host:-1', /port/],
    ['CACHE_ADDRS', '::1:6379', /brackets/],
    ['CACHE_ADDRS', '[::1:6379', /bracket/],
    ['CACHE_ADDRS', '[::1]6379', /host:port/],
    ['CACHE_ADDRS', ',,', /no address/],
    ['CACHE_ADDRS', 'http://h:1', /scheme/],
    ['CACHE_ADDRS', 'redis://h:1/3', /database 3/],
    ['CACHE_ADDRS', 'redis://h:1?family=6', /query/],
    ['CACHE_ADDRS', 'redis://:x@h:1,redis://:y@h:2', /disagree on the password/],
    ['CACHE_ADDRS', 'redis://h:1,rediss://h:2', /disagree on the scheme/],
    ['CACHE_ADDRS', 'redis://', /valid URL|no host/],
    ['CACHE_ADDRS', 'bad host:1', /not a valid host/],
    ['CACHE_TLS_ENABLED', 'maybe', /true or false/],
    ['CACHE_CA_CERT_BASE64', 'not base64!', /base64/],
    ['CACHE_CA_CERT_BASE64', Buffer.from('hello').toString('base64'), /BEGIN CERTIFICATE/],
    ['CACHE_POOL_SIZE', '0', /positive/],
    ['CACHE_POOL_SIZE', '1.5', /positive/],
    ['CACHE_POOL_SIZE', 'four', /positive/],
    ['CACHE_MAX_RETRIES', '-1', />= 0/],
    ['CACHE_MAX_RETRIES', '1e3', />= 0/],
    ['CACHE_DIAL_TIMEOUT', 'soon', /duration/],
    ['CACHE_DIAL_TIMEOUT', '0', /at least 1 millisecond/],
    ['CACHE_READ_TIMEOUT', '-1s', /duration/],
    ['CACHE_WRITE_TIMEOUT', '5 minutes', /duration/],
    ['CACHE_READ_TIMEOUT', '25d', /at most 2147483647 ms/],
  ])('%s=%j is an ERR_CONFIG naming the variable', (variable, value, problem) => {
    const env: Record<string, string> = { [variable]: value }
    if (variable !== 'CACHE_ADDRS') env.CACHE_ADDRS = 'h:1'
    const error = configError(() => resolve(env))
    expect(error.message.startsWith(`${variable}: `), error.message).toBe(true)
    expect(error.message).toMatch(problem)
    expect(error.details.variable).toBe(variable)
    // readEnvironment alone reports the same
    expect(configError(() => readEnvironment(env)).details.variable).toBe(variable)
  })

  it('refuses TLS switched off together with a rediss:// address or a CA', () => {
    expect(
      configError(() => resolve({ CACHE_ADDRS: 'rediss://h:1', CACHE_TLS_ENABLED: 'false' })).details
        .variable,
    ).toBe('CACHE_TLS_ENABLED')
    expect(
      configError(() =>
        resolve({ CACHE_ADDRS: 'h:1', CACHE_TLS_ENABLED: '0', CACHE_CA_CERT_BASE64: PEM_B64 }),
      ).details.variable,
    ).toBe('CACHE_CA_CERT_BASE64')
    // A redis:// URL says "no TLS" as clearly as the variable would: the CA must not be silently dropped.
    const plainUrl = configError(() => resolve({ CACHE_ADDRS: 'redis://h:1', CACHE_CA_CERT_BASE64: PEM_B64 }))
    expect(plainUrl.details.variable).toBe('CACHE_CA_CERT_BASE64')
    expect(plainUrl.message).toContain('rediss://')
    expect(resolve({ CACHE_ADDRS: 'rediss://h:1', CACHE_CA_CERT_BASE64: PEM_B64 }).tls).toEqual({ ca: PEM })
  })
})

describe('URLs', () => {
  it.each([
    ['redis://h.example:7000', { host: 'h.example', port: 7000 }, undefined, undefined, false],
    ['redis://h.example', { host: 'h.example', port: 6379 }, undefined, undefined, false],
    ['rediss://u:p@h:1/0', { host: 'h', port: 1 }, 'u', 'p', true],
    ['valkey://:only-pass@h:2/', { host: 'h', port: 2 }, undefined, 'only-pass', false],
    ['valkeys://user@[::1]:6380', { host: '::1', port: 6380 }, 'user', undefined, true],
    ['redis://us%40er:p%3Ass%2Fw@h:3', { host: 'h', port: 3 }, 'us@er', 'p:ss/w', false],
    ['redis://u:pa,ss@h:4', { host: 'h', port: 4 }, 'u', 'pa,ss', false],
  ])('%s', (url, seed, username, password, tls) => {
    for (const o of [
      resolve({ CACHE_ADDRS: url }),
      resolve({}, { url }),
      resolve({}, { addresses: url }),
      resolve({}, { addresses: [url] }),
    ]) {
      expect(o.seeds).toEqual([seed])
      expect(o.mode).toBe('single')
      expect(o.username).toBe(username)
      expect(o.password).toBe(password)
      expect(o.tls).toEqual(tls ? {} : undefined)
    }
  })

  it('accepts several URLs of one cluster that agree', () => {
    const o = resolve({ CACHE_MODE: 'cluster', CACHE_ADDRS: 'rediss://:s@a:1,rediss://:s@b:2' })
    expect(o.seeds).toEqual([
      { host: 'a', port: 1 },
      { host: 'b', port: 2 },
    ])
    expect(o.password).toBe('s')
    expect(o.tls).toEqual({})
  })

  it('CACHE_USERNAME and CACHE_PASSWORD beat the URL', () => {
    const o = resolve({ CACHE_ADDRS: 'redis://u:p@h:1', CACHE_USERNAME: 'v', CACHE_PASSWORD: 'q' })
    expect([o.username, o.password]).toEqual(['v', 'q'])
  })
})

describe('REDIS_* fallback', () => {
  it('uses REDIS_HOST, REDIS_PORT, REDIS_USERNAME, REDIS_PASSWORD and REDIS_TLS when CACHE_ADDRS is unset', () => {
    const o = resolve({
      REDIS_HOST: 'redis.local',
      REDIS_PORT: '6380',
      REDIS_USERNAME: 'ru',
      REDIS_PASSWORD: 'rp',
      REDIS_TLS: 'true',
    })
    expect(o.mode).toBe('single')
    expect(o.seeds).toEqual([{ host: 'redis.local', port: 6380 }])
    expect([o.username, o.password]).toEqual(['ru', 'rp'])
    expect(o.tls).toEqual({})
    expect(resolve({ REDIS_HOST: 'redis.local' }).seeds).toEqual([{ host: 'redis.local', port: 6379 }])
  })

  it('CACHE_* variables beat their REDIS_* fallbacks', () => {
    const o = resolve({
      REDIS_HOST: 'r',
      REDIS_PASSWORD: 'rp',
      REDIS_TLS: 'true',
      CACHE_PASSWORD: 'cp',
      CACHE_TLS_ENABLED: 'false',
    })
    expect(o.password).toBe('cp')
    expect(o.tls).toBeUndefined()
  })

  it('ignores every REDIS_* variable when CACHE_ADDRS is set or REDIS_HOST is not', () => {
    const o = resolve({
      CACHE_ADDRS: 'c:1',
      REDIS_HOST: 'r',
      REDIS_PASSWORD: 'rp',
      REDIS_TLS: 'bogus',
      REDIS_PORT: 'x',
    })
    expect(o.seeds).toEqual([{ host: 'c', port: 1 }])
    expect(o.password).toBeUndefined()
    // Docker's legacy link variables look like this.
    expect(resolve({ REDIS_PORT: 'tcp://172.17.0.5:6379', REDIS_PASSWORD: 'rp' }).mode).toBe('memory')
  })

  it.each([
    ['REDIS_PORT', { REDIS_HOST: 'r', REDIS_PORT: 'tcp://172.17.0.5:6379' }],
    ['REDIS_PORT', { REDIS_HOST: 'r', REDIS_PORT: '99999' }],
    ['REDIS_TLS', { REDIS_HOST: 'r', REDIS_TLS: 'sometimes' }],
    ['REDIS_HOST', { REDIS_HOST: 'r/x' }],
  ])('a bad %s is an ERR_CONFIG naming it', (variable, env) => {
    const error = configError(() => resolve(env))
    expect(error.details.variable).toBe(variable)
    expect(error.message.startsWith(`${variable}: `)).toBe(true)
  })
})

describe('mode inference', () => {
  it('is memory without addresses, single with addresses, and honours an explicit mode', () => {
    expect(resolve({}).mode).toBe('memory')
    expect(resolve({ CACHE_ADDRS: 'h:1' }).mode).toBe('single')
    expect(resolve({ CACHE_ADDRS: 'h:1', CACHE_MODE: 'memory' }).mode).toBe('memory')
    expect(resolve({}, { addresses: ['h:1'], mode: 'cluster' }).mode).toBe('cluster')
  })

  it('refuses single or cluster without any address', () => {
    expect(configError(() => resolve({ CACHE_MODE: 'cluster' })).details.variable).toBe('CACHE_MODE')
    expect(configError(() => resolve({}, { mode: 'single' })).details.option).toBe('mode')
  })

  it('needs no address when a store is given', () => {
    const store = new MemoryStore() as never
    expect(resolve({}, { mode: 'cluster', store }).store).toBe(store)
  })
})

describe('explicit options', () => {
  it('beat the environment, field by field', () => {
    const o = resolve(
      {
        CACHE_MODE: 'cluster',
        CACHE_ADDRS: 'rediss://eu:ep@env-host:1',
        CACHE_POOL_SIZE: '8',
        CACHE_MAX_RETRIES: '5',
        CACHE_DIAL_TIMEOUT: '9s',
        CACHE_READ_TIMEOUT: '7s',
      },
      {
        mode: 'single',
        addresses: ['mine:2'],
        password: 'mp',
        poolSize: 2,
        dialTimeout: 100,
        readTimeout: '3s',
      },
    )
    expect(o.mode).toBe('single')
    expect(o.seeds).toEqual([{ host: 'mine', port: 2 }])
    expect(o.password).toBe('mp')
    // Not given explicitly: still from the environment.
    expect(o.username).toBe('eu')
    expect(o.tls).toEqual({})
    expect(o.maxRetries).toBe(5)
    expect(o.poolSize).toBe(2)
    expect(o.dialTimeoutMs).toBe(100)
    expect(o.timeouts.operationMs).toBe(3000)
  })

  it('tls: false and tls objects beat the environment', () => {
    expect(resolve({ CACHE_ADDRS: 'h:1', CACHE_TLS_ENABLED: 'true' }, { tls: false }).tls).toBeUndefined()
    expect(resolve({ CACHE_ADDRS: 'h:1', CACHE_CA_CERT_BASE64: PEM_B64 }, { tls: true }).tls).toEqual({
      ca: PEM,
    })
    expect(
      resolve({ CACHE_ADDRS: 'h:1', CACHE_CA_CERT_BASE64: PEM_B64 }, { tls: { ca: 'mine', servername: 's' } })
        .tls,
    ).toEqual({
      ca: 'mine',
      servername: 's',
    })
    expect(resolve({}, { addresses: 'h:1', tls: true }).tls).toEqual({})
    expect(configError(() => resolve({}, { url: 'rediss://h:1', tls: false })).details.option).toBe('tls')
  })

  it('maps read/write timeouts onto the operation timeout unless it is given', () => {
    expect(resolve({}, { readTimeout: 500, writeTimeout: '1s' }).timeouts.operationMs).toBe(1000)
    expect(resolve({ CACHE_WRITE_TIMEOUT: '750ms' }).timeouts.operationMs).toBe(750)
    expect(
      resolve({ CACHE_READ_TIMEOUT: '9s' }, { timeouts: { operation: '1s' } }).timeouts.operationMs,
    ).toBe(1000)
  })

  it('accepts every option', () => {
    const transformers = [compression()]
    const o = resolve(
      {},
      {
        clientName: 'svc-a',
        readFrom: 'replica',
        autoPipelining: false,
        maxRetries: 3,
        offlineQueueLimit: 0,
        prefix: '',
        defaultTtl: null,
        encoder: msgpackEncoder,
        transformers,
        maxValueBytes: 1024,
        maxComputeRetries: 0,
        timeouts: { operation: '1s', atomic: 2000, bulk: '3s', flush: '1m' },
        onError: 'miss',
        allowUnsafeFlush: true,
        memory: { maxEntries: 10, maxBytes: 1000 },
      },
    )
    expect(o).toMatchObject({
      clientName: 'svc-a',
      readFrom: 'replica',
      autoPipelining: false,
      maxRetries: 3,
      offlineQueueLimit: 0,
      prefix: '',
      defaultTtlMs: null,
      encoder: msgpackEncoder,
      transformers,
      maxValueBytes: 1024,
      maxComputeRetries: 0,
      timeouts: { operationMs: 1000, atomicMs: 2000, bulkMs: 3000, flushMs: 60_000 },
      onError: 'miss',
      allowUnsafeFlush: true,
      memory: { maxEntries: 10, maxBytes: 1000 },
    })
    expect(resolve({}, { defaultTtl: '10m' }).defaultTtlMs).toBe(600_000)
  })

  it.each<[string, CacheOptions]>([
    ['mode', { mode: 'sentinel' as never }],
    ['addresses', { addresses: [] }],
    ['addresses', { addresses: [42 as never] }],
    ['addresses', { addresses: ['h:x'] }],
    ['url', { url: 'h:1' }],
    ['url', { url: 'redis://h:1', addresses: ['h:1'] }],
    ['username', { username: 1 as never }],
    ['tls', { tls: 'yes' as never }],
    ['tls.ca', { tls: { ca: 1 as never } }],
    ['clientName', { clientName: 'has space' }],
    ['clientName', { clientName: '' }],
    ['readFrom', { readFrom: 'any' as never }],
    ['autoPipelining', { autoPipelining: 'true' as never }],
    ['poolSize', { poolSize: 0 }],
    ['maxRetries', { maxRetries: -1 }],
    ['maxRetries', { maxRetries: 1.5 }],
    ['dialTimeout', { dialTimeout: 0 }],
    ['readTimeout', { readTimeout: 'soon' }],
    ['offlineQueueLimit', { offlineQueueLimit: -1 }],
    ['prefix', { prefix: 'app{1}:' }],
    ['defaultTtl', { defaultTtl: -1 }],
    ['defaultTtl', { defaultTtl: 0.5 }],
    ['defaultTtl', { defaultTtl: 'soon' }],
    ['encoder', { encoder: { name: 'x' } as never }],
    ['transformers', { transformers: [{}] as never }],
    ['maxValueBytes', { maxValueBytes: 0 }],
    ['maxValueBytes', { maxValueBytes: 2 ** 30 }],
    ['maxComputeRetries', { maxComputeRetries: -1 }],
    ['timeouts.bulk', { timeouts: { bulk: Number.NaN } }],
    ['timeouts.flush', { timeouts: { flush: 2 ** 31 } }],
    ['dialTimeout', { dialTimeout: '30d' }],
    ['onError', { onError: 'ignore' as never }],
    ['allowUnsafeFlush', { allowUnsafeFlush: 1 as never }],
    ['memory.maxEntries', { memory: { maxEntries: 0 } }],
    ['fromEnv', { fromEnv: 'no' as never }],
    ['store', { store: { get() {}, set() {} } as never }],
    ['store', { store: { get() {}, set() {}, getWithTtl() {} } as never }],
  ])('a bad %s is an ERR_CONFIG naming the option', (option, options) => {
    const error = configError(() => resolveCacheOptions({ fromEnv: false, ...options }))
    expect(error.details.option).toBe(option)
    if (option !== 'prefix') expect(error.message).toContain(`option ${option}`)
  })

  it('keeps the RangeError of a bad duration as the cause', () => {
    expect(configError(() => resolveCacheOptions({ fromEnv: false, defaultTtl: -1 })).cause).toBeInstanceOf(
      RangeError,
    )
  })
})

describe('secrets', () => {
  it('never puts a password in an error message', () => {
    const cases: Array<Record<string, string>> = [
      { CACHE_ADDRS: `redis://user:${SECRET}@h:bad` },
      { CACHE_ADDRS: `redis://user:${encodeURIComponent(SECRET)}@h:1/5` },
      { CACHE_ADDRS: `redis://:${encodeURIComponent(SECRET)}@h:1?x=1` },
      { CACHE_ADDRS: `http://user:${encodeURIComponent(SECRET)}@h:1` },
      { CACHE_ADDRS: `redis://:${encodeURIComponent(SECRET)}@h:1,redis://:other@h:2` },
      { CACHE_ADDRS: `redis://:%E0%A4%A@h:1` },
      { CACHE_ADDRS: `user:${SECRET}@h:1` },
      { CACHE_ADDRS: `:${SECRET}@h` },
      { CACHE_ADDRS: 'redis://user:secret,pa@h:bad' },
      { CACHE_ADDRS: 'redis://h:1,redis://user:secret,pa@h:bad' },
      { CACHE_PASSWORD: SECRET, CACHE_MODE: 'cluster' },
      { REDIS_HOST: 'h', REDIS_PASSWORD: SECRET, REDIS_PORT: 'nope' },
    ]
    for (const env of cases) {
      const error = configError(() => resolve(env))
      const everything = `${error.message} ${JSON.stringify(error.details)} ${String((error.cause as Error | undefined)?.message)}`
      for (const leak of [SECRET, encodeURIComponent(SECRET), 'secret', '%E0%A4%A'])
        expect(everything).not.toContain(leak)
      expect(
        error.cause === undefined ||
          !JSON.stringify(Object.entries(error.cause as object)).includes('secret'),
      ).toBe(true)
    }
    const explicit = configError(() =>
      resolveCacheOptions({ fromEnv: false, url: `redis://:${encodeURIComponent(SECRET)}@h:1/2` }),
    )
    expect(explicit.message).not.toContain('secret')
    expect(explicit.message).toContain('***@h:1/2')
  })
})

describe('unencoded passwords holding "@" and ","', () => {
  it.each([
    ['s3cr@t:pa,ss', ['s3cr', 't:pa', 'pa,ss', 'ss@']],
    ['p@ss:w/rd#1,x %?', ['ss:w', 'w/rd', 'rd#1', '#1', 'x %']],
  ])('never echo a fragment of %j in an ERR_CONFIG message', (password, fragments) => {
    const url = `redis://app:${password}@10.0.0.1:6379`
    for (const attempt of [() => resolve({ CACHE_ADDRS: url }), () => resolve({}, { url })]) {
      let message = ''
      try {
        attempt()
      } catch (error) {
        message = (error as Error).message
      }
      for (const fragment of fragments) expect(message).not.toContain(fragment)
    }
  })
})
