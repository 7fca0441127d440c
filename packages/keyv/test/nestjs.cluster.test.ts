import 'reflect-metadata'
import { CACHE_MANAGER, CacheInterceptor, CacheModule } from '@nestjs/cache-manager'
import {
  Controller,
  Get,
  Inject,
  type INestApplication,
  Module,
  Param,
  UseInterceptors,
} from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import type { Cache as KeyshardCache } from '@keyshard/core'
import type { Cache } from 'cache-manager'
import type Keyv from 'keyv'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKeyv, type KeyshardStore } from '../src/index.js'
import { cacheOptions, connect, rawKeys } from './helpers.js'

let loads = 0
let keyvs: Keyv[] = []

@Controller()
class ItemsController {
  // esbuild emits no decorator metadata, so the token is explicit.
  constructor(@Inject(CACHE_MANAGER) private readonly cache: Cache) {}

  @Get('items/:id')
  @UseInterceptors(CacheInterceptor)
  item(@Param('id') id: string): { id: string; load: number } {
    loads++
    return { id, load: loads }
  }

  @Get('visits')
  async visits(): Promise<{ visits: number }> {
    const visits = ((await this.cache.get<number>('visits')) ?? 0) + 1
    await this.cache.set('visits', visits, 60_000)
    return { visits }
  }
}

@Module({
  imports: [
    CacheModule.registerAsync({
      useFactory: async () => {
        const keyv = await createKeyv(cacheOptions('cluster', { prefix: 'nest:' }), {
          keyv: { namespace: 'shop' },
        })
        keyvs.push(keyv)
        return { stores: [keyv] }
      },
    }),
  ],
  controllers: [ItemsController],
})
class AppModule {}

describe('NestJS CacheModule.registerAsync with createKeyv on the cluster', () => {
  let app: INestApplication
  let url: string
  let inspector: KeyshardCache

  beforeAll(async () => {
    inspector = await connect('cluster', { prefix: 'nest:' })
    await inspector.namespace('shop').clear()
    keyvs = []
    app = await NestFactory.create(AppModule, { logger: false })
    await app.listen(0, '127.0.0.1')
    url = (await app.getUrl()).replace('[::1]', '127.0.0.1')
  })
  afterAll(async () => {
    await app?.close()
    await inspector.close()
  })

  it('uses the Keyv instance as-is (no re-wrapping)', () => {
    expect(keyvs).toHaveLength(1)
    const manager = app.get<Cache>(CACHE_MANAGER)
    expect(manager.stores[0]).toBe(keyvs[0])
  })

  it('CacheInterceptor serves the second GET from Valkey', async () => {
    const first = await fetch(`${url}/items/7`)
    expect(await first.json()).toEqual({ id: '7', load: 1 })
    const second = await fetch(`${url}/items/7`)
    expect(await second.json()).toEqual({ id: '7', load: 1 })
    expect(first.headers.get('x-cache')).toBe('MISS')
    expect(second.headers.get('x-cache')).toBe('HIT')
    expect(loads).toBe(1)
    expect(await rawKeys(inspector, 'nest:*')).toContain('nest:shop:/items/7')
  })

  it('CACHE_MANAGER reads and writes through the store, keys carry exactly the expected prefix', async () => {
    expect(await (await fetch(`${url}/visits`)).json()).toEqual({ visits: 1 })
    expect(await (await fetch(`${url}/visits`)).json()).toEqual({ visits: 2 })
    expect(await rawKeys(inspector, 'nest:*')).toEqual(['nest:shop:/items/7', 'nest:shop:visits'])
    expect(await rawKeys(inspector, 'nest:*keyv*')).toEqual([])
  })

  it('app.close() disconnects the store and closes its connection', async () => {
    const store = keyvs[0]?.store as KeyshardStore
    await app.close()
    await expect(store.cache?.namespace('shop').get('visits')).rejects.toMatchObject({ code: 'ERR_CLOSED' })
    // The data outlives the process that wrote it.
    expect(await rawKeys(inspector, 'nest:*')).toEqual(['nest:shop:/items/7', 'nest:shop:visits'])
  })
})
