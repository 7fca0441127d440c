import type { Cache } from 'cache-manager'
import express, { type Express } from 'express'
import { type Product, ProductDatabase } from './catalogue.js'

export interface AppOptions {
  /** How long a product stays cached. @default 60_000 */
  ttlMs?: number
  /** The slow "database"; one is created when omitted. */
  db?: ProductDatabase
}

const productKey = (id: string) => `product:${id}`

/** Builds the catalogue service over any cache-manager instance; main.ts wires it to Keyshard. */
export function createApp(cache: Cache, options: AppOptions = {}): Express {
  const db = options.db ?? new ProductDatabase()
  const ttlMs = options.ttlMs ?? 60_000
  const app = express()
  app.use(express.json())

  app.get('/', (_req, res) => {
    res.json({
      service: 'keyv-example',
      try: ['/products/1', 'POST /products/1 {"price": 40}', '/stats', '/health'],
    })
  })

  app.get('/health', async (_req, res) => {
    try {
      await cache.set('health:probe', Date.now(), 5_000)
      res.json({ status: 'ok' })
    } catch (error) {
      res.status(503).json({ status: 'down', error: (error as Error).message })
    }
  })

  app.get('/products/:id', async (req, res) => {
    let loaded = false
    // A missing product is cached too (as null), so unknown ids do not hammer the database.
    const product = await cache.wrap<Product | null>(
      productKey(req.params.id),
      async () => {
        loaded = true
        return db.find(req.params.id)
      },
      ttlMs,
    )
    res.setHeader('X-Cache', loaded ? 'MISS' : 'HIT')
    if (product === null) {
      res.status(404).json({ error: `No product ${req.params.id}` })
      return
    }
    res.json(product)
  })

  app.post('/products/:id', async (req, res) => {
    const body = (req.body ?? {}) as { name?: unknown; price?: unknown }
    const patch: Partial<Pick<Product, 'name' | 'price'>> = {}
    if (typeof body.name === 'string') patch.name = body.name
    if (typeof body.price === 'number') patch.price = body.price
    const product = await db.update(req.params.id, patch)
    if (product === null) {
      res.status(404).json({ error: `No product ${req.params.id}` })
      return
    }
    // Invalidate after the write, so the next read loads the new row.
    await cache.del(productKey(req.params.id))
    res.json(product)
  })

  /** How often the database was read: lets a test (or a curious human) see cache hits. */
  app.get('/stats', (_req, res) => {
    res.json({ databaseLoads: db.loads })
  })

  return app
}
