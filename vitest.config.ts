import { readdirSync, existsSync } from 'node:fs'
import { defaultServerConditions } from 'vite'
import { defineConfig } from 'vitest/config'

// Tests import workspace packages through the `@keyshard/source` export condition, so they run against src/
// without a build. Servers are started once per run by the testkit's global setup and shared by every project.
const conditions = ['@keyshard/source', ...defaultServerConditions]

const projectDirs = ['packages', 'apps'].flatMap((group) =>
  existsSync(group)
    ? readdirSync(group, { withFileTypes: true })
        .filter((d) => d.isDirectory() && existsSync(`${group}/${d.name}/package.json`))
        .map((d) => `${group}/${d.name}`)
    : [],
)

export default defineConfig({
  test: {
    globalSetup: ['./packages/testkit/src/global-setup.ts'],
    projects: [
      ...projectDirs.map((dir) => ({
        resolve: { conditions },
        ssr: { resolve: { conditions, externalConditions: ['@keyshard/source'] } },
        test: {
          name: dir.split('/')[1],
          root: dir,
          include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      })),
      // The README's `demo` command, run end to end (it starts its own cluster and the example apps).
      { test: { name: 'scripts', root: 'scripts', include: ['*.test.ts'], testTimeout: 120_000 } },
    ],
    teardownTimeout: 30_000,
  },
})
