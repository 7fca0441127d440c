/** A stand-in for a slow database: every read costs `delayMs`, and reads are counted so tests can see hits. */
export interface Product {
  id: string
  name: string
  price: number
  updatedAt: string
}

export class ProductDatabase {
  readonly #rows = new Map<string, Product>()
  readonly #delayMs: number
  loads = 0

  constructor(delayMs = 200) {
    this.#delayMs = delayMs
    for (const [id, name, price] of [
      ['1', 'Fountain pen', 42],
      ['2', 'Notebook', 9],
      ['3', 'Ink, blue', 7],
    ] as const) {
      this.#rows.set(id, { id, name, price, updatedAt: new Date(0).toISOString() })
    }
  }

  async find(id: string): Promise<Product | null> {
    this.loads++
    await new Promise((resolve) => setTimeout(resolve, this.#delayMs))
    return this.#rows.get(id) ?? null
  }

  async update(id: string, patch: Partial<Pick<Product, 'name' | 'price'>>): Promise<Product | null> {
    const current = this.#rows.get(id)
    if (current === undefined) return null
    const next = { ...current, ...patch, updatedAt: new Date().toISOString() }
    this.#rows.set(id, next)
    return next
  }
}
