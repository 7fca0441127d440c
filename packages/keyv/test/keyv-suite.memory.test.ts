import { describe } from 'vitest'
import { keyvCompliance } from './keyv-compliance.js'

describe('@keyv/test-suite over the memory store', () => {
  keyvCompliance('memory')
})
