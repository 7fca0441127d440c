import { describe } from 'vitest'
import { keyvCompliance } from './keyv-compliance.js'

describe('@keyv/test-suite over the cluster store', () => {
  keyvCompliance('cluster')
})
